//! The commands' own output on stdout. A reader that goes away early
//! (`palanquin status | head -1`) ends the program quietly, exit 0, where
//! `println!` would panic on the broken pipe.

use std::io::{ErrorKind, Write};

/// Writes one line to stdout; on a closed pipe, exits quietly.
pub(crate) fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("palanquin: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }
}

/// `println!` for the commands' output, through [`line`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::out::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;
