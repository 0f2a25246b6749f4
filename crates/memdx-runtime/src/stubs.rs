//! Exported assembly entry points that share one handler: each is `mov
//! r11d, INDEX; jmp ENTRY`, with its own section (so unused ones can be
//! dropped) and unwind information; the handler reads the hook's index in
//! r11 (`handoff`, `strmem::printf`).

/// Emits the entry `NAME` (`mov r11d, INDEX; jmp ENTRY`) for each `INDEX
/// NAME` pair, in sections named `.text.SECTION.NAME`; checks at compile
/// time that `table[i].idx == i` for the hook table `table` (the entries'
/// indices count up from 0).
macro_rules! index_stubs {
    ($section:literal, $entry:path, $table:ident, $($idx:literal $name:ident)*) => {
        const _: () = {
            let mut i = 0;
            while i < $table.len() {
                assert!($table[i].idx == i, "hook indices must count up from 0");
                i += 1;
            }
        };

        #[cfg(not(test))]
        core::arch::global_asm!(
            $(
                concat!(
                    ".pushsection .text.", $section, ".", stringify!($name), ",\"ax\",@progbits\n",
                    ".p2align 4\n",
                    ".globl ", stringify!($name), "\n",
                    ".type ", stringify!($name), ",@function\n",
                    stringify!($name), ":\n",
                    ".cfi_startproc\n",
                    "mov r11d, ", stringify!($idx), "\n",
                    "jmp {entry}\n",
                    ".cfi_endproc\n",
                    ".size ", stringify!($name), ", .-", stringify!($name), "\n",
                    ".popsection\n",
                ),
            )*
            entry = sym $entry,
        );
    };
}
