//! Running one measured path in a child process and reading what it cost: wall
//! time, user/system CPU and peak RSS from `wait4`'s rusage, plus the CPU the
//! es-sim process and the whole machine spent meanwhile.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};

use crate::worker::{WorkerOutput, WorkerSpec, RESULT_PREFIX};

/// What the parent measured around one child.
#[derive(Debug, Clone)]
pub struct ChildCost {
    /// Spawn to exit.
    pub process_wall_s: f64,
    pub user_s: f64,
    pub sys_s: f64,
    /// `ru_maxrss` (KiB on Linux), in MiB.
    pub peak_rss_mib: f64,
    /// CPU seconds es-sim used while the child ran.
    pub es_sim_cpu_s: Option<f64>,
    /// Share of the machine's CPU time that was busy (every process) meanwhile.
    pub machine_busy: Option<f64>,
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime of a process, in seconds.
pub fn process_cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// (busy, total) jiffies of the whole machine.
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

/// Runs `exe worker --spec <json>` and measures it.
pub fn run_child(
    exe: &std::path::Path,
    spec: &WorkerSpec,
    es_sim_pid: Option<u32>,
) -> Result<(WorkerOutput, ChildCost)> {
    let spec_json = serde_json::to_string(spec).context("encoding the worker spec")?;
    let es_before = es_sim_pid.and_then(process_cpu_s);
    let machine_before = machine_jiffies();
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args(["worker", "--spec", &spec_json])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let pid = child.id() as libc::pid_t;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout from the worker"))?;
    let reader = std::thread::spawn(move || {
        let mut result = None;
        let mut lines = BufReader::new(stdout).lines();
        while let Some(Ok(line)) = lines.next() {
            if let Some(json) = line.strip_prefix(RESULT_PREFIX) {
                result = Some(json.to_string());
            } else {
                eprintln!("worker: {line}");
            }
        }
        result
    });
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let process_wall_s = started.elapsed().as_secs_f64();
    if r < 0 {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let es_after = es_sim_pid.and_then(process_cpu_s);
    let machine_after = machine_jiffies();
    let line = reader
        .join()
        .map_err(|_| anyhow!("worker output reader panicked"))?;
    let exited_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let out: WorkerOutput = match line {
        Some(json) => serde_json::from_str(&json).context("decoding the worker result")?,
        None if !exited_ok => bail!(
            "worker {:?} failed (status {status:#x}) without a result",
            spec.kind
        ),
        None => bail!("worker {:?} printed no result", spec.kind),
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cost = ChildCost {
        process_wall_s,
        user_s: tv(usage.ru_utime),
        sys_s: tv(usage.ru_stime),
        peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        es_sim_cpu_s: match (es_before, es_after) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        },
        machine_busy: match (machine_before, machine_after) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                Some((b1 - b0) as f64 / (t1 - t0) as f64)
            }
            _ => None,
        },
    };
    Ok((out, cost))
}

/// Runs an arbitrary command (the real `tributary` binary) with stdout discarded or
/// counted, measuring it like [`run_child`]. Returns (stdout lines, stdout bytes, cost).
pub fn run_command(cmd: &mut Command, es_sim_pid: Option<u32>) -> Result<(u64, u64, ChildCost)> {
    run_command_exiting(cmd, es_sim_pid, &[0]).map(|(lines, bytes, cost, _)| (lines, bytes, cost))
}

/// [`run_command`] that accepts any of `exit_codes` as success; also returns the code.
pub fn run_command_exiting(
    cmd: &mut Command,
    es_sim_pid: Option<u32>,
    exit_codes: &[i32],
) -> Result<(u64, u64, ChildCost, i32)> {
    let es_before = es_sim_pid.and_then(process_cpu_s);
    let machine_before = machine_jiffies();
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
    let counter = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0u64;
        let mut lines = 0u64;
        while let Ok(k) = stdout.read(&mut buf) {
            if k == 0 {
                break;
            }
            n += k as u64;
            lines += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        (n, lines)
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut status: libc::c_int = 0;
    // SAFETY: as in run_child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let process_wall_s = started.elapsed().as_secs_f64();
    if r < 0 {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let es_after = es_sim_pid.and_then(process_cpu_s);
    let machine_after = machine_jiffies();
    let (bytes, lines) = counter
        .join()
        .map_err(|_| anyhow!("stdout reader panicked"))?;
    let err = err_reader.join().unwrap_or_default();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    if !(libc::WIFEXITED(status) && exit_codes.contains(&code)) {
        let tail: String = err
            .chars()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        bail!("{cmd:?} failed (status {status:#x}): {tail}");
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok((
        lines,
        bytes,
        ChildCost {
            process_wall_s,
            user_s: tv(usage.ru_utime),
            sys_s: tv(usage.ru_stime),
            peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
            es_sim_cpu_s: match (es_before, es_after) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            },
            machine_busy: match (machine_before, machine_after) {
                (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                    Some((b1 - b0) as f64 / (t1 - t0) as f64)
                }
                _ => None,
            },
        },
        code,
    ))
}

/// This process's `VmHWM` (peak RSS) in MiB, from /proc.
pub fn self_vm_hwm_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
