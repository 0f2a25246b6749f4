//! The scan sequence against a fake debugfs control file that records what
//! was written, read and waited, in order.

// Test helpers outside #[test] fns panic on purpose, like the tests.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use memdx_kernel::kmemleak::control::{scan, Control, ScanPlan, Wait, DEFAULT_WAIT, MIN_AGE};
use memdx_kernel::{KernelError, Result};

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Write(String),
    Wait(Duration),
    Read,
}

type Log = Rc<RefCell<Vec<Event>>>;

/// A fake control file: answers reads with `report` once two scans were
/// written (like the kernel: objects are only reported after a scan), and
/// can refuse writes with an errno.
struct FakeDebugfs {
    log: Log,
    report: String,
    refuse_with: Option<i32>,
    scans: usize,
}

impl Control for FakeDebugfs {
    fn write(&mut self, command: &str) -> Result<()> {
        if let Some(errno) = self.refuse_with {
            return Err(KernelError::io(
                format!("write '{command}' to"),
                "/sys/kernel/debug/kmemleak",
                std::io::Error::from_raw_os_error(errno),
            ));
        }
        if command == "scan" {
            self.scans += 1;
        }
        self.log
            .borrow_mut()
            .push(Event::Write(command.to_string()));
        Ok(())
    }
    fn read(&mut self) -> Result<String> {
        self.log.borrow_mut().push(Event::Read);
        Ok(if self.scans >= 2 {
            self.report.clone()
        } else {
            String::new()
        })
    }
}

struct FakeClock(Log);

impl Wait for FakeClock {
    fn wait(&mut self, d: Duration) {
        self.0.borrow_mut().push(Event::Wait(d));
    }
}

fn fake(log: &Log, refuse_with: Option<i32>) -> FakeDebugfs {
    FakeDebugfs {
        log: log.clone(),
        report: "unreferenced object 0xffff888005a3b000 (size 32):\n".into(),
        refuse_with,
        scans: 0,
    }
}

#[test]
fn scan_waits_past_the_minimum_age_between_two_scans_then_reads() {
    let log: Log = Rc::default();
    let text = scan(
        &mut fake(&log, None),
        &mut FakeClock(log.clone()),
        &ScanPlan::default(),
    )
    .unwrap();
    assert!(text.starts_with("unreferenced object"));
    assert_eq!(
        *log.borrow(),
        vec![
            Event::Write("scan".into()),
            Event::Wait(DEFAULT_WAIT),
            Event::Write("scan".into()),
            Event::Read
        ]
    );
    assert!(DEFAULT_WAIT > MIN_AGE);
}

#[test]
fn clear_first_clears_before_the_first_scan() {
    let log: Log = Rc::default();
    let plan = ScanPlan {
        clear_first: true,
        wait: Duration::from_millis(7500),
        confirm: false,
    };
    scan(&mut fake(&log, None), &mut FakeClock(log.clone()), &plan).unwrap();
    assert_eq!(
        *log.borrow(),
        vec![
            Event::Write("clear".into()),
            Event::Write("scan".into()),
            Event::Wait(Duration::from_millis(7500)),
            Event::Write("scan".into()),
            Event::Read
        ]
    );
}

#[test]
fn a_refused_write_stops_the_sequence_before_any_wait() {
    let log: Log = Rc::default();
    let err = scan(
        &mut fake(&log, Some(1)),
        &mut FakeClock(log.clone()),
        &ScanPlan::default(),
    )
    .unwrap_err();
    assert_eq!(err.os_error(), Some(1));
    assert!(
        err.to_string()
            .starts_with("cannot write 'scan' to /sys/kernel/debug/kmemleak"),
        "{err}"
    );
    assert!(
        log.borrow().is_empty(),
        "nothing written, nothing waited: {:?}",
        log.borrow()
    );
}

#[test]
fn confirm_rescans_only_when_something_was_reported() {
    let log: Log = Rc::default();
    let plan = ScanPlan {
        confirm: true,
        ..ScanPlan::default()
    };
    scan(&mut fake(&log, None), &mut FakeClock(log.clone()), &plan).unwrap();
    assert_eq!(
        *log.borrow(),
        vec![
            Event::Write("scan".into()),
            Event::Wait(DEFAULT_WAIT),
            Event::Write("scan".into()),
            Event::Read,
            Event::Wait(DEFAULT_WAIT),
            Event::Write("scan".into()),
            Event::Read
        ]
    );
    // Nothing reported: nothing to confirm.
    let log: Log = Rc::default();
    let mut quiet = fake(&log, None);
    quiet.report = String::new();
    scan(&mut quiet, &mut FakeClock(log.clone()), &plan).unwrap();
    assert_eq!(log.borrow().len(), 4);
}
