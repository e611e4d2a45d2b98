//! What the benchmark reads from `/proc`: CPU time and memory of a
//! process (the tool itself or the server), the kernel's UDP counters
//! (receive-buffer drops), the drops of one process's own UDP sockets
//! (so a drop can be blamed on the server or on the tool), and the
//! per-CPU backlog drops, and the whole machine's CPU time (`/proc/stat`).
//! The parsers are plain functions over text so
//! they can be tested.

use std::collections::HashSet;
use std::fs;
use std::io;

fn stat_path(pid: Option<u32>) -> String {
    match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    }
}

/// utime + stime in clock ticks from a `/proc/*/stat` line.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces: count after its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time (user + system) of `pid`, or of this process, in seconds.
pub fn cpu_seconds(pid: Option<u32>, ticks_per_second: u64) -> io::Result<f64> {
    let text = fs::read_to_string(stat_path(pid))?;
    let ticks = parse_cpu_ticks(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable stat"))?;
    Ok(ticks as f64 / ticks_per_second as f64)
}

/// A `kB` line of `/proc/*/status` (`VmRSS`, `VmHWM`).
pub fn parse_status_kb(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.split_whitespace().next()?.parse().ok())?
    })
}

/// `VmRSS` (or another `kB` key) of `pid`.
pub fn status_kb(pid: u32, key: &str) -> io::Result<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status_kb(&text, key)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no {key}")))
}

/// The kernel's UDP counters (`Udp:` lines of `/proc/net/snmp`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpCounters {
    pub in_datagrams: u64,
    pub in_errors: u64,
    /// `UdpRcvbufErrors` in `netstat -s` terms.
    pub rcvbuf_errors: u64,
    pub sndbuf_errors: u64,
}

pub fn parse_snmp(text: &str) -> Option<UdpCounters> {
    let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = lines.next()?.split_whitespace().skip(1).collect();
    let values: Vec<u64> = lines
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let get = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .and_then(|i| values.get(i).copied())
    };
    Some(UdpCounters {
        in_datagrams: get("InDatagrams")?,
        in_errors: get("InErrors")?,
        rcvbuf_errors: get("RcvbufErrors")?,
        sndbuf_errors: get("SndbufErrors").unwrap_or(0),
    })
}

pub fn udp_counters() -> io::Result<UdpCounters> {
    let text = fs::read_to_string("/proc/net/snmp")?;
    parse_snmp(&text).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no Udp: lines"))
}

/// Packets dropped because a CPU's input backlog was full
/// (`net.core.netdev_max_backlog`), summed over CPUs.
pub fn parse_softnet_dropped(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .sum()
}

pub fn softnet_dropped() -> io::Result<u64> {
    Ok(parse_softnet_dropped(&fs::read_to_string(
        "/proc/net/softnet_stat",
    )?))
}

/// The socket inodes `pid` (or this process) holds open.
pub fn socket_inodes(pid: Option<u32>) -> io::Result<HashSet<u64>> {
    let dir = match pid {
        Some(p) => format!("/proc/{p}/fd"),
        None => "/proc/self/fd".to_owned(),
    };
    let mut inodes = HashSet::new();
    for entry in fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        if let Some(n) = target
            .strip_prefix("socket:[")
            .and_then(|t| t.strip_suffix(']'))
            .and_then(|t| t.parse().ok())
        {
            inodes.insert(n);
        }
    }
    Ok(inodes)
}

/// Drops of the UDP sockets in `inodes`, from `/proc/net/udp` text:
/// (sockets found, drops summed).
pub fn parse_udp_drops(text: &str, inodes: &HashSet<u64>) -> (u64, u64) {
    let mut found = 0;
    let mut drops = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref ptr drops
        let (Some(inode), Some(d)) = (f.get(9), f.get(12)) else {
            continue;
        };
        let Ok(inode) = inode.parse::<u64>() else {
            continue;
        };
        if inodes.contains(&inode) {
            found += 1;
            drops += d.parse::<u64>().unwrap_or(0);
        }
    }
    (found, drops)
}

/// (sockets, drops) of the UDP sockets `pid` (or this process) holds.
pub fn udp_socket_drops(pid: Option<u32>) -> io::Result<(u64, u64)> {
    let inodes = socket_inodes(pid)?;
    let text = fs::read_to_string("/proc/net/udp")?;
    Ok(parse_udp_drops(&text, &inodes))
}

/// The calling thread's scheduler figures from `/proc/thread-self/schedstat`:
/// (nanoseconds on a CPU, nanoseconds waiting on a run queue while able
/// to run).
pub fn parse_schedstat(text: &str) -> Option<(u64, u64)> {
    let mut f = text.split_whitespace();
    let run = f.next()?.parse().ok()?;
    let wait = f.next()?.parse().ok()?;
    Some((run, wait))
}

/// [`parse_schedstat`] of the calling thread (`None` when the kernel has
/// no schedstats).
pub fn thread_schedstat() -> Option<(u64, u64)> {
    parse_schedstat(&fs::read_to_string("/proc/thread-self/schedstat").ok()?)
}

/// Machine-wide CPU time from the first (`cpu `, all CPUs) line of
/// `/proc/stat`, in clock ticks summed over CPUs, and how many CPUs the
/// file lists (`cpuN` lines: the online ones).
///
/// The line's fields are `user nice system idle iowait irq softirq steal
/// guest guest_nice`; the kernel already counts `guest` in `user` and
/// `guest_nice` in `nice`, so those two are not added again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineCpu {
    /// user + nice + system + irq + softirq.
    pub busy: u64,
    /// idle + iowait.
    pub idle: u64,
    /// Time the hypervisor ran something else while a CPU wanted to run.
    pub steal: u64,
    /// `cpuN` lines.
    pub cpus: u32,
}

impl MachineCpu {
    /// The busy fields summed: `busy` + `steal` (a CPU that wanted to run
    /// counts as busy).
    pub fn busy_ticks(&self) -> u64 {
        self.busy + self.steal
    }

    /// Busy CPU-seconds per second (cores kept busy) between `earlier`
    /// and `self`, `seconds` of wall-clock time apart: every CPU's time
    /// that was not idle or iowait, i.e. user + nice + system + irq +
    /// softirq + steal, taken as the CPUs' elapsed time minus their idle
    /// time rather than as the sum of those fields.
    ///
    /// Why not the sum: with tick-based CPU accounting (the usual kernel
    /// configuration) the busy fields are sampled at the scheduler tick,
    /// and on a tickless-idle kernel a CPU that wakes for less than a tick
    /// and goes back to idle (a relay on a 1 ms grid, a load tool on 20 ms
    /// packets) is mostly never sampled: measured on this benchmark's
    /// machine, the busy fields showed 3 % of a core while the server and
    /// the tool alone used 18 % by their own (exact) counts. Idle and
    /// iowait are measured exactly on such kernels (from idle entry to
    /// exit, interrupts excluded), so elapsed − idle is not sampled.
    ///
    /// `None` for an empty interval or when the CPUs changed in between.
    pub fn busy_cores_since(
        &self,
        earlier: &MachineCpu,
        ticks_per_second: u64,
        seconds: f64,
    ) -> Option<f64> {
        if !interval_ok(ticks_per_second, seconds) {
            return None;
        }
        if self.cpus == 0 || self.cpus != earlier.cpus {
            return None;
        }
        let cpus = f64::from(self.cpus);
        let idle_s = self.idle.saturating_sub(earlier.idle) as f64 / ticks_per_second as f64;
        Some(((cpus * seconds - idle_s) / seconds).clamp(0.0, cpus))
    }

    /// The busy fields' sum over the interval, per second: what `top` and
    /// friends show, which undercounts short wake-ups (see
    /// [`MachineCpu::busy_cores_since`]).
    pub fn tick_busy_cores_since(
        &self,
        earlier: &MachineCpu,
        ticks_per_second: u64,
        seconds: f64,
    ) -> Option<f64> {
        if !interval_ok(ticks_per_second, seconds) {
            return None;
        }
        let ticks = self.busy_ticks().saturating_sub(earlier.busy_ticks());
        Some(ticks as f64 / ticks_per_second as f64 / seconds)
    }
}

pub fn parse_machine_cpu(text: &str) -> Option<MachineCpu> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let cpus = text
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count();
    // user nice system idle iowait irq softirq steal guest guest_nice
    Some(MachineCpu {
        busy: v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)?,
        idle: v.get(3)? + v.get(4)?,
        steal: v.get(7).copied().unwrap_or(0),
        cpus: u32::try_from(cpus).ok()?,
    })
}

pub fn machine_cpu() -> Option<MachineCpu> {
    parse_machine_cpu(&fs::read_to_string("/proc/stat").ok()?)
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether an interval of `seconds` measured in ticks of
/// `ticks_per_second` can give a rate.
fn interval_ok(ticks_per_second: u64, seconds: f64) -> bool {
    seconds.is_finite() && seconds > 0.0 && ticks_per_second > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_survive_spaces_in_the_name() {
        let stat = "4242 (tokio runtime) S 1 4242 4242 0 -1 4194304 1000 0 0 0 \
                    250 75 0 0 20 0 9 0 12345 1000000 2000 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn schedstat_run_and_wait() {
        assert_eq!(parse_schedstat("123456 789 42\n"), Some((123456, 789)));
        assert_eq!(parse_schedstat(""), None);
    }

    #[test]
    fn machine_cpu_from_proc_stat() {
        let text = "cpu  115878 10 19776 91885 633 5 1581 104 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(
            parse_machine_cpu(text),
            Some(MachineCpu {
                busy: 115878 + 10 + 19776 + 5 + 1581,
                idle: 91885 + 633,
                steal: 104,
                cpus: 1,
            })
        );
        assert_eq!(parse_machine_cpu("intr 1 2\n"), None);
    }

    #[test]
    fn machine_cpu_counts_steal_but_not_guest_twice() {
        // user nice system idle iowait irq softirq steal guest guest_nice:
        // guest (900) is already inside user (1000).
        let text = "cpu  1000 20 300 5000 40 6 70 8 900 0\n\
                    cpu0 500 10 150 2500 20 3 35 4 450 0\n\
                    cpu1 500 10 150 2500 20 3 35 4 450 0\n\
                    intr 123456 0 0\n\
                    ctxt 99\n\
                    cpufreq_is_not_a_cpu 1\n";
        let m = parse_machine_cpu(text).expect("parses");
        assert_eq!(m.busy, 1000 + 20 + 300 + 6 + 70);
        assert_eq!(m.idle, 5000 + 40);
        assert_eq!(m.busy_ticks(), 1000 + 20 + 300 + 6 + 70 + 8);
        assert_eq!(m.cpus, 2);
        // An old kernel's line without steal and guest still parses.
        let old =
            parse_machine_cpu("cpu 10 0 5 100 1 0 0\ncpu0 10 0 5 100 1 0 0\n").expect("parses");
        assert_eq!((old.busy_ticks(), old.idle, old.cpus), (15, 101, 1));
        // The first line is the whole machine, not cpu0.
        assert!(parse_machine_cpu("cpu0 1 2 3 4 5 6 7\n").is_none());
        assert!(parse_machine_cpu("cpu  1 2 x 4 5 6 7\n").is_none());
    }

    #[test]
    fn busy_cores_from_a_pair_of_samples() {
        let two = |line: &str| {
            parse_machine_cpu(&format!(
                "{line}\ncpu0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0\n"
            ))
            .expect("parses")
        };
        let a = two("cpu  1000 20 300 5000 40 6 70 8 900 0");
        // 10 s later on 2 CPUs at 100 ticks/s: 2000 ticks in all, of which
        // 1230 busy (user 900, nice 0, system 250, irq 10, softirq 60,
        // steal 10; guest moved by 500 inside user), 770 idle + iowait.
        let b = two("cpu  1900 20 550 5760 50 16 130 18 1400 0");
        let cores = b.busy_cores_since(&a, 100, 10.0).expect("cores");
        assert!((cores - 1.23).abs() < 1e-9, "{cores}");
        // As a percent of one core: 123 (of 200 on 2 CPUs).
        assert!((cores * 100.0 - 123.0).abs() < 1e-6);
        // Exact accounting: the busy fields' sum says the same.
        let summed = b.tick_busy_cores_since(&a, 100, 10.0).expect("cores");
        assert!((summed - 1.23).abs() < 1e-9, "{summed}");

        // Tick-sampled busy fields that missed short wake-ups: 10 s on 2
        // CPUs, idle 17 s (exact), yet only 0.5 s of busy ticks. The
        // machine was busy 3 CPU-s: 0.3 cores.
        let c = two("cpu  1000 0 0 1000 0 0 0 0 0 0");
        let d = two("cpu  1040 0 10 2700 0 0 0 0 0 0");
        let cores = d.busy_cores_since(&c, 100, 10.0).expect("cores");
        assert!((cores - 0.3).abs() < 1e-9, "{cores}");
        let summed = d.tick_busy_cores_since(&c, 100, 10.0).expect("cores");
        assert!((summed - 0.05).abs() < 1e-9, "{summed}");

        assert_eq!(b.busy_cores_since(&a, 100, 0.0), None);
        assert_eq!(b.busy_cores_since(&a, 0, 10.0), None);
        // Never outside 0..=CPUs (samples swapped; a window shorter than
        // the idle it saw).
        assert_eq!(a.busy_cores_since(&b, 100, 10.0), Some(2.0));
        assert_eq!(d.busy_cores_since(&c, 100, 1.0), Some(0.0));
        // A CPU came or went: no figure.
        let one = parse_machine_cpu("cpu  1 0 0 1 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0\n").expect("one");
        assert_eq!(one.busy_cores_since(&a, 100, 10.0), None);
    }

    #[test]
    fn status_kb_lines() {
        let status = "Name:\thibiki\nVmHWM:\t  20480 kB\nVmRSS:\t  10240 kB\n";
        assert_eq!(parse_status_kb(status, "VmRSS"), Some(10240));
        assert_eq!(parse_status_kb(status, "VmHWM"), Some(20480));
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
    }

    #[test]
    fn snmp_udp_counters_by_name() {
        let text = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors\n\
                    Udp: 1000 2 7 990 5 1 0\n\
                    UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors\n\
                    UdpLite: 0 0 0 0 0 0 0\n";
        let c = parse_snmp(text).expect("parses");
        assert_eq!(
            c,
            UdpCounters {
                in_datagrams: 1000,
                in_errors: 7,
                rcvbuf_errors: 5,
                sndbuf_errors: 1
            }
        );
    }

    #[test]
    fn softnet_drops_are_summed_over_cpus() {
        let text = "000000dd 00000002 00000000\n000020f0 00000010 00000000\n";
        assert_eq!(parse_softnet_dropped(text), 18);
    }

    #[test]
    fn udp_drops_of_chosen_inodes() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            1: 0100007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 111 2 0000000000000000 3\n\
            2: 0100007F:4E20 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 222 2 0000000000000000 40\n\
            3: 0100007F:4E22 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 333 2 0000000000000000 0\n";
        let inodes: HashSet<u64> = [222, 333, 999].into_iter().collect();
        assert_eq!(parse_udp_drops(text, &inodes), (2, 40));
    }
}
