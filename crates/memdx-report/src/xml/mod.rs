//! Valgrind's XML output, protocol 4, exactly as Valgrind 3.19's memcheck
//! writes it ([`write()`]), and a reader for it ([`read()`]).
//!
//! # The document
//!
//! Whitespace is part of the format here: CI plugins mostly parse the XML,
//! but some scripts grep it, and byte-identical output is what the
//! differential tests hold us to. `⏎` is a newline; indentation is two
//! spaces per level.
//!
//! ```text
//! <?xml version="1.0"?>⏎⏎<valgrindoutput>⏎⏎
//! <protocolversion>4</protocolversion>⏎
//! <protocoltool>memcheck</protocoltool>⏎⏎
//! <preamble>⏎  <line>…</line>⏎ …</preamble>⏎⏎          Report::preamble
//! <pid>…</pid>⏎<ppid>…</ppid>⏎<tool>memcheck</tool>⏎
//! <usercomment>RAW XML</usercomment>⏎                 Report::user_comment, if any
//! ⏎
//! <args>⏎                                              Report::checker, ::program
//!   <vargv>⏎    <exe>…</exe>⏎    <arg>…</arg>⏎ …  </vargv>⏎
//!   <argv>⏎    <exe>…</exe>⏎    <arg>…</arg>⏎ …  </argv>⏎
//! </args>⏎⏎
//! <status>⏎  <state>RUNNING</state>⏎  <time>DD:HH:MM:SS.mmm </time>⏎</status>⏎⏎
//! ERROR*                     the errors found while running (not leaks)
//! FATAL_SIGNAL?
//! ⏎<status>⏎  <state>FINISHED</state>⏎  <time>…</time>⏎</status>⏎⏎
//! ERROR*                     the leaks
//! <errorcounts>⏎PAIR*</errorcounts>⏎⏎
//! <suppcounts>⏎PAIR*</suppcounts>⏎⏎
//! </valgrindoutput>⏎⏎
//! ```
//!
//! The time has a trailing space (Valgrind's format is `%02d:%02d:%02d:%02d.%03d `:
//! days, hours, minutes, seconds, milliseconds). A report without
//! [`Report::finished`](crate::Report::finished) ends after the run-time
//! errors, as a file being written by a running checker does.
//!
//! An ERROR is
//!
//! ```text
//! <error>⏎
//!   <unique>0x1f</unique>⏎      lower-case hex
//!   <tid>1</tid>⏎
//!   <threadname>…</threadname>⏎ only for a thread the program named
//!   <kind>InvalidFree</kind>⏎
//!   <what>…</what>⏎             or, for leaks:
//!   <xwhat>⏎    <text>…</text>⏎    <leakedbytes>N</leakedbytes>⏎    <leakedblocks>N</leakedblocks>⏎  </xwhat>⏎
//!   STACK
//!   (<auxwhat>…</auxwhat>⏎ STACK?)*
//!   SUPPRESSION?                indented by two
//! </error>⏎⏎
//! SUPPRESSION?                  the same block again, for --gen-suppressions=all
//! ```
//!
//! A STACK is `  <stack>⏎` then, per frame, `    <frame>⏎` with the
//! present ones of `<ip>0x484417B</ip>` (upper-case hex), `<obj>`, `<fn>`,
//! `<dir>`, `<file>`, `<line>`, each on its own line at six spaces, then
//! `    </frame>⏎`, and `  </stack>⏎`.
//!
//! A SUPPRESSION is
//!
//! ```text
//!   <suppression>⏎
//!     <sname>NAME</sname>⏎
//!     <skind>Memcheck:Leak</skind>⏎
//!     <skaux>match-leak-kinds: definite</skaux>⏎   when the kind has one
//!     <sframe> <fun>malloc</fun> </sframe>⏎        or <obj>…</obj>
//!     <rawtext>⏎<![CDATA[⏎RAW]]>⏎    </rawtext>⏎    RAW: the suppression file block
//!   </suppression>⏎
//! ```
//!
//! FATAL_SIGNAL is `<fatal_signal>⏎` with `<tid>`, `<threadname>`?,
//! `<signo>`, `<signame>`, `<sicode>`, `<event>`?, `<siaddr>0x10</siaddr>`?
//! (lower-case hex) at two spaces, a STACK, and `</fatal_signal>⏎⏎`.
//!
//! PAIRs are `  <pair>⏎    <count>N</count>⏎    <unique>0x…</unique>⏎  </pair>⏎`
//! (error counts) and the same with `<name>…</name>` (suppression counts).
//!
//! Text is escaped as Valgrind escapes it: `&`, `<` and `>` only. Raw
//! suppression text goes into CDATA unescaped.
//!
//! One quirk is reproduced on purpose: Valgrind 3.19 writes a
//! `FishyValue` headline with a newline before `</what>` and none after
//! it (`<what>…value: -3⏎</what>  <stack>`). The model holds the headline
//! without that newline.
//!
//! Not written (memdx does not produce them; the reader rejects them with
//! [`ReportError::Unsupported`](crate::ReportError::Unsupported)):
//! `<clientmsg>`, `<logfilequalifier>`, `<xauxwhat>`,
//! `<origin>`, and other tools' elements.

pub mod read;
pub mod write;

pub use read::read;
pub use write::{write, write_stopped};
