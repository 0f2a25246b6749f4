//! OOM-killer reports in kernel log text.
