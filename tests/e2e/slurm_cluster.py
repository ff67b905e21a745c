"""A real single-node Slurm cluster for tests: a private munged, slurmctld and slurmd.

    from slurm_cluster import SlurmCluster, SlurmUnavailable

    with SlurmCluster() as c:                       # start(); stop() on the way out
        a = c.sbatch(["--array=0-3", "--output", "out-%a.txt"], "job.sbatch")
        b = c.sbatch(["--dependency=afterok:" + a], "after.sbatch")
        res = c.wait([a, b], timeout=60)
        assert res.all_completed(), res.summary()

start() raises SlurmUnavailable(reason) when the Debian packages (slurmctld, slurmd,
slurm-client, munge) are missing or a daemon does not come up; the reason ends with the
daemon's log tail.  stop() always cleans up, whatever start() got to.

Follows /work/shared/design/SLURM-NOTES.md (Debian 12, slurm-wlm 22.05): everything lives
in one short temporary folder D (munge key and socket, slurm.conf, state, spool, logs);
the node is the machine's short hostname at 127.0.0.1; no cgroups, no accounting
database; batch_sched_delay=0.  Daemons are stopped by the PIDs recorded here (never by
name): SIGTERM, SIGKILL after 10 s; a zombie counts as stopped.  Ports 6817/6818 are
Slurm's defaults; other free ports are used when those are taken.

Every wait is bounded.
"""
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HOSTS_TAG = "# added by lode tests/e2e/slurm_cluster.py"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
            "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"}
NEVER = "DependencyNeverSatisfied"
DAEMONS = ("munged", "slurmctld", "slurmd", "munge", "unmunge", "sbatch", "squeue",
           "scontrol", "scancel", "sinfo")


class SlurmUnavailable(Exception):
    """Slurm cannot run here; str() is the reason."""


class SlurmError(RuntimeError):
    """A Slurm client command failed."""


def _tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return "(no %s)" % path
    return "\n".join(lines[-n:]) or "(%s is empty)" % path


def _is_stopped(pid):
    """True when pid is gone or a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _descendants(pid):
    kids, out, todo = _children_map(), [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _free_ports():
    if _port_free(6817) and _port_free(6818):
        return 6817, 6818
    for p in range(16817, 17817, 2):
        if _port_free(p) and _port_free(p + 1):
            return p, p + 1
    raise SlurmUnavailable("no two free TCP ports for slurmctld and slurmd")


class WaitResult:
    """What wait() saw: states and reasons of every job (array tasks as ID_TASK)."""

    def __init__(self):
        self.states = {}        # "12_0" or "16" -> "COMPLETED", "PENDING", ...
        self.reasons = {}       # the same keys -> Reason (e.g. DependencyNeverSatisfied)
        self.exit_codes = {}    # the same keys -> "0:0"
        self.timed_out = False
        self.never_satisfied = []   # keys of jobs that can never start
        self.seconds = 0.0
        self.report = ""        # on timeout: squeue and log tails

    def all_completed(self):
        return bool(self.states) and all(s == "COMPLETED" for s in self.states.values())

    def summary(self):
        parts = []
        for k in sorted(self.states, key=_job_sort_key):
            s = "%s=%s" % (k, self.states[k])
            if self.reasons.get(k) not in (None, "None"):
                s += "(%s)" % self.reasons[k]
            if self.exit_codes.get(k) not in (None, "0:0"):
                s += "[exit %s]" % self.exit_codes[k]
            parts.append(s)
        txt = " ".join(parts) + " after %.1fs" % self.seconds
        if self.timed_out:
            txt += " TIMED OUT (jobs cancelled)\n" + self.report
        return txt


def _job_sort_key(k):
    return [int(x) if x.isdigit() else 0 for x in re.split(r"[_\-]", k)]


def _parse_oneliner(line):
    """scontrol -o show job: one record a line of Key=Value pairs (values may hold
    spaces only in a few keys we do not read)."""
    rec = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            rec.setdefault(k, v)
    return rec


class SlurmCluster:
    def __init__(self, partition="lode", start_timeout=30.0, base="/tmp"):
        self.partition = partition
        self.start_timeout = start_timeout
        self.base = base
        self.dir = None
        self.conf = None
        self.host = None
        self.procs = {}          # name -> Popen, in start order
        self.pids = []           # every daemon and slurmd descendant stop() signalled
        self.hosts_line_added = False
        self.started = False
        self.start_seconds = None
        self.stop_seconds = None

    # ------------------------------------------------------------------ context
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # ------------------------------------------------------------------ start
    def start(self):
        t0 = time.time()
        atexit.register(self.stop)   # also when the test script ends without stop()
        try:
            self._start()
        except SlurmUnavailable:
            self.stop()
            raise
        except Exception as e:
            self.stop()
            raise SlurmUnavailable("starting Slurm failed: %s: %s" % (type(e).__name__, e))
        self.started = True
        self.start_seconds = time.time() - t0
        return self

    def _which(self, name):
        path = os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin"
        return shutil.which(name, path=path)

    def _start(self):
        missing = [n for n in DAEMONS if not self._which(n)]
        if missing:
            raise SlurmUnavailable("Slurm/munge programs not installed: %s (Debian packages "
                                   "slurmctld slurmd slurm-client munge; make slurm-deps)"
                                   % " ".join(missing))
        if os.geteuid() != 0:
            raise SlurmUnavailable("the private Slurm cluster needs root (SlurmdUser=root)")
        self.bin = {n: self._which(n) for n in DAEMONS}
        self.host = socket.gethostname().split(".")[0]
        self.dir = tempfile.mkdtemp(prefix="lslurm.", dir=self.base)
        os.chmod(self.dir, 0o755)
        d = self.dir
        for sub in ("munge", "state", "spool"):
            os.makedirs(os.path.join(d, sub))
        os.chmod(os.path.join(d, "munge"), 0o755)   # other users must reach the socket
        self._start_munge()
        loopback_only = self._loopback_hostname()
        ctld_port, slurmd_port = _free_ports()
        self._write_conf(loopback_only, ctld_port, slurmd_port)
        self._start_slurmctld()
        self._start_slurmd()

    def _start_munge(self):
        d = self.dir
        key = os.path.join(d, "munge.key")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(1024))
        self.munge_socket = os.path.join(d, "munge", "munge.socket")
        cmd = [self.bin["munged"], "--foreground", "--force", "--socket", self.munge_socket,
               "--key-file", key, "--log-file", os.path.join(d, "munged.log"),
               "--pid-file", os.path.join(d, "munged.pid"),
               "--seed-file", os.path.join(d, "munged.seed"), "--origin=127.0.0.1"]
        self._spawn("munged", cmd)
        deadline = time.time() + 10
        last = ""
        while time.time() < deadline:
            self._check_alive("munged", os.path.join(d, "munged.log"))
            if os.path.exists(self.munge_socket):
                try:
                    cred = subprocess.run([self.bin["munge"], "-n", "-S", self.munge_socket],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          timeout=5)
                    chk = subprocess.run([self.bin["unmunge"], "-S", self.munge_socket],
                                         input=cred.stdout, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, timeout=5)
                    if cred.returncode == 0 and chk.returncode == 0:
                        return
                    last = (cred.stderr + chk.stderr).decode(errors="replace").strip()
                except subprocess.TimeoutExpired:
                    last = "munge/unmunge timed out"
            time.sleep(0.1)
        raise SlurmUnavailable("munged did not answer `munge -n | unmunge` within 10 s (%s)\n%s"
                               % (last, _tail(os.path.join(d, "munged.log"))))

    def _resolves_to(self):
        try:
            return sorted(set(socket.gethostbyname_ex(self.host)[2]))
        except OSError:
            return []

    def _loopback_hostname(self):
        """True when the short hostname resolves to 127.0.0.1 only (then the daemons bind
        to loopback).  When it does not resolve at all, map it in /etc/hosts (undone by
        stop()).  A name resolving elsewhere (127.0.1.1, a LAN address) is left alone:
        sbatch works, only srun would not."""
        addrs = self._resolves_to()
        if addrs == ["127.0.0.1"]:
            return True
        if not addrs:
            with open("/etc/hosts", "a") as f:   # in place: /etc/hosts may be a bind mount
                f.write("127.0.0.1 %s %s\n" % (self.host, HOSTS_TAG))
            self.hosts_line_added = True
            return self._resolves_to() == ["127.0.0.1"]
        return False

    def _write_conf(self, loopback_only, ctld_port, slurmd_port):
        d = self.dir
        r = subprocess.run([self.bin["slurmd"], "-C"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        m = re.search(r"^NodeName=\S+ (.*)$", r.stdout.decode(errors="replace"), re.M)
        if r.returncode != 0 or not m:
            raise SlurmUnavailable("`slurmd -C` gave no node line: %s"
                                   % (r.stdout + r.stderr).decode(errors="replace")[-500:])
        layout = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
        mem = int(layout.get("RealMemory", "1000"))
        node = ["CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore"]
        node = " ".join("%s=%s" % (k, layout[k]) for k in node if k in layout)
        node += " RealMemory=%d" % max(1, int(mem * 0.9))   # below what slurmd reports
        self.cpus = int(layout.get("CPUs", "1"))
        open(os.path.join(d, "plugstack.conf"), "w").close()
        lines = [
            "ClusterName=lodetest",
            "SlurmctldHost=%s(127.0.0.1)" % self.host,
            "SlurmctldPort=%d" % ctld_port,
            "SlurmdPort=%d" % slurmd_port,
            "AuthType=auth/munge",
            "CredType=cred/munge",
            "AuthInfo=socket=%s" % self.munge_socket,
            "SlurmUser=root",
            "SlurmdUser=root",
            "StateSaveLocation=%s/state" % d,
            "SlurmdSpoolDir=%s/spool" % d,
            "SlurmctldPidFile=%s/slurmctld.pid" % d,
            "SlurmdPidFile=%s/slurmd.pid" % d,
            "SlurmctldLogFile=%s/slurmctld.log" % d,
            "SlurmdLogFile=%s/slurmd.log" % d,
            "PlugStackConfig=%s/plugstack.conf" % d,
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerParameters=batch_sched_delay=0",
            "ReturnToService=2",
            "MinJobAge=600",          # finished jobs stay visible to scontrol show job
            "KillWait=5",
            "InactiveLimit=0",
        ]
        if loopback_only:
            lines.append("CommunicationParameters=NoCtldInAddrAny,NoInAddrAny")
        lines += [
            "NodeName=%s NodeAddr=127.0.0.1 %s State=UNKNOWN" % (self.host, node),
            "PartitionName=%s Nodes=%s Default=YES MaxTime=INFINITE State=UP"
            % (self.partition, self.host),
        ]
        self.conf = os.path.join(d, "slurm.conf")
        with open(self.conf, "w") as f:
            f.write("# private test cluster written by tests/e2e/slurm_cluster.py\n")
            f.write("\n".join(lines) + "\n")

    def _start_slurmctld(self):
        log = os.path.join(self.dir, "slurmctld.log")
        self._spawn("slurmctld", [self.bin["slurmctld"], "-D", "-i", "-f", self.conf])
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            self._check_alive("slurmctld", log)
            r = self.run(["scontrol", "ping"], timeout=10, check=False)
            if r.returncode == 0 and "UP" in r.stdout:
                return
            time.sleep(0.1)
        raise SlurmUnavailable("slurmctld did not answer `scontrol ping` within %.0f s\n%s"
                               % (self.start_timeout, _tail(log)))

    def _start_slurmd(self):
        log = os.path.join(self.dir, "slurmd.log")
        self._spawn("slurmd", [self.bin["slurmd"], "-D", "-f", self.conf, "-N", self.host])
        deadline = time.time() + self.start_timeout
        state = ""
        while time.time() < deadline:
            self._check_alive("slurmd", log)
            r = self.run(["sinfo", "-h", "-N", "-n", self.host, "-o", "%T"], timeout=10,
                         check=False)
            state = r.stdout.strip()
            if r.returncode == 0 and state == "idle":
                return
            time.sleep(0.1)
        why = self.run(["sinfo", "-R", "-h"], timeout=10, check=False).stdout.strip()
        raise SlurmUnavailable("node %s is %r, not idle, after %.0f s (%s)\n%s\n%s"
                               % (self.host, state, self.start_timeout, why or "no reason",
                                  _tail(log), _tail(os.path.join(self.dir, "slurmctld.log"))))

    def _spawn(self, name, cmd):
        out = open(os.path.join(self.dir, name + ".out"), "wb")
        try:
            self.procs[name] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                                stderr=subprocess.STDOUT, cwd=self.dir,
                                                env=self._daemon_env(),
                                                start_new_session=True)
        except OSError as e:
            raise SlurmUnavailable("cannot run %s: %s" % (cmd[0], e))
        finally:
            out.close()

    def _daemon_env(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith("SLURM")}
        if self.conf:
            e["SLURM_CONF"] = self.conf
        return e

    def _check_alive(self, name, log):
        p = self.procs[name]
        if p.poll() is not None:
            raise SlurmUnavailable("%s exited with status %s during start\n%s\n%s"
                                   % (name, p.returncode, _tail(log),
                                      _tail(os.path.join(self.dir, name + ".out"), 5)))

    # ------------------------------------------------------------------ clients
    def env(self, base=None, **extra):
        """Environment for sbatch, squeue, scontrol and the jobs: base (default
        os.environ) with SLURM_CONF set, any SLURM_* of an enclosing job dropped, and
        extra added."""
        base = os.environ if base is None else base
        e = {k: v for k, v in base.items() if not k.startswith("SLURM_")}
        e["SLURM_CONF"] = self.conf
        e.update({k: str(v) for k, v in extra.items()})
        return e

    def run(self, cmd, timeout=30, check=True, env=None, cwd=None):
        """Run a Slurm client (name looked up like the daemons); text output."""
        cmd = [str(c) for c in cmd]
        if not os.path.isabs(cmd[0]):
            cmd[0] = self._which(cmd[0]) or cmd[0]
        try:
            r = subprocess.run(cmd, env=env or self.env(), cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout,
                               universal_newlines=True, errors="replace")
        except subprocess.TimeoutExpired:
            if check:
                raise SlurmError("timeout after %ss: %s" % (timeout, " ".join(cmd)))
            return subprocess.CompletedProcess(cmd, 124, "", "timeout")
        if check and r.returncode != 0:
            raise SlurmError("`%s` exited %d: %s" % (" ".join(cmd), r.returncode,
                                                      r.stderr.strip()[-800:]))
        return r

    def sbatch(self, args, script, env=None, cwd=None):
        """Submit script with sbatch --parsable ARGS; returns the job id (a string)."""
        r = self.run(["sbatch", "--parsable"] + list(args) + [script], env=env, cwd=cwd)
        jobid = r.stdout.strip().split(";")[0]
        if not jobid.isdigit():
            raise SlurmError("sbatch printed no job id: %r %r" % (r.stdout, r.stderr))
        return jobid

    def job_records(self, jobid):
        """scontrol -o show job JOBID: a list of dicts (one per array task, plus one for
        the still-unsplit pending tasks of an array).  [] when the job is unknown."""
        r = self.run(["scontrol", "-o", "show", "job", str(jobid)], timeout=15, check=False)
        if r.returncode != 0:
            return []
        return [_parse_oneliner(l) for l in r.stdout.splitlines() if l.strip()]

    def wait(self, jobids, timeout=120.0, poll=0.2):
        """Wait until every job (and every task of an array) has ended, or can never start
        (PENDING, Reason=DependencyNeverSatisfied: such jobs are then cancelled), or
        timeout seconds have passed (then every job is cancelled and result.report holds
        squeue's view and the daemons' log tails).  Returns a WaitResult."""
        res = WaitResult()
        t0 = time.time()
        jobids = [str(j) for j in jobids]
        while True:
            states, reasons, codes, never, done = {}, {}, {}, [], True
            for j in jobids:
                recs = self.job_records(j)
                if not recs:   # unknown (or long purged): nothing to wait for
                    states[j] = res.states.get(j, "UNKNOWN")
                    continue
                for rec in recs:
                    key = rec.get("JobId", j)
                    if rec.get("ArrayJobId") and rec.get("ArrayTaskId"):
                        key = "%s_%s" % (rec["ArrayJobId"], rec["ArrayTaskId"])
                    states[key] = rec.get("JobState", "UNKNOWN")
                    reasons[key] = rec.get("Reason")
                    codes[key] = rec.get("ExitCode")
                    if states[key] == "PENDING" and reasons[key] == NEVER:
                        never.append(key)
                    elif states[key] not in TERMINAL:
                        done = False
            res.states, res.reasons, res.exit_codes, res.never_satisfied = \
                states, reasons, codes, never
            res.seconds = time.time() - t0
            if done:
                break
            if res.seconds > timeout:
                res.timed_out = True
                res.report = self._timeout_report()
                self.cancel(jobids)
                break
            time.sleep(poll)
        if res.never_satisfied:
            self.cancel(sorted(set(k.split("_")[0] for k in res.never_satisfied)))
        return res

    def cancel(self, jobids):
        if jobids:
            self.run(["scancel"] + [str(j) for j in jobids], timeout=15, check=False)

    def _timeout_report(self):
        q = self.run(["squeue", "-h", "-o", "%i %T %r"], timeout=15, check=False)
        return "squeue:\n%s\nslurmctld.log:\n%s\nslurmd.log:\n%s" % (
            q.stdout.strip() or "(empty)", _tail(os.path.join(self.dir, "slurmctld.log"), 8),
            _tail(os.path.join(self.dir, "slurmd.log"), 8))

    def log_tail(self, name="slurmd", n=15):
        return _tail(os.path.join(self.dir, name + ".log"), n) if self.dir else ""

    # ------------------------------------------------------------------ stop
    def stop(self):
        """Cancel every job, stop slurmd, slurmctld and munged by their recorded PIDs (and
        whatever slurmd had started), remove the state folder and any /etc/hosts line
        added.  Safe to call twice or after a failed start."""
        t0 = time.time()
        try:
            ctld = self.procs.get("slurmctld")
            if ctld is not None and ctld.poll() is None and self.conf:
                q = self.run(["squeue", "-h", "-o", "%A"], timeout=10, check=False)
                ids = sorted(set(q.stdout.split()))
                if ids:
                    self.cancel(ids)
                    deadline = time.time() + 5   # give the steps a moment to end
                    while time.time() < deadline:
                        q = self.run(["squeue", "-h", "-o", "%A"], timeout=10, check=False)
                        if q.returncode != 0 or not q.stdout.strip():
                            break
                        time.sleep(0.2)
            for name in ("slurmd", "slurmctld", "munged"):
                p = self.procs.get(name)
                if p is None:
                    continue
                extra = [(c, _comm(c)) for c in _descendants(p.pid)]   # slurmstepd, jobs
                self.pids += [p.pid] + [c for c, _ in extra]
                self._terminate(name, p)
                for pid, comm in extra:
                    self._terminate_pid(pid, comm)
        finally:
            self.procs = {}
            if self.hosts_line_added:
                self._remove_hosts_line()
            if self.dir:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None
            self.started = False
            self.stop_seconds = time.time() - t0

    def leftover_pids(self):
        """PIDs stop() dealt with that still run (zombies count as stopped)."""
        return [p for p in self.pids if not _is_stopped(p)]

    def _terminate(self, name, p):
        if p.poll() is not None:
            return
        comm = _comm(p.pid)
        if comm is not None and not name.startswith(comm[:15]):
            return   # not ours any more
        try:
            p.send_signal(signal.SIGTERM)
        except OSError:
            return
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def _terminate_pid(self, pid, comm):
        """A descendant of slurmd, not our child: SIGTERM, SIGKILL after 10 s."""
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 2.0)):
            if _is_stopped(pid) or _comm(pid) != comm:
                return
            try:
                os.kill(pid, sig)
            except OSError:
                return
            deadline = time.time() + wait
            while time.time() < deadline and not _is_stopped(pid):
                time.sleep(0.05)

    def _remove_hosts_line(self):
        try:
            with open("/etc/hosts") as f:
                lines = f.readlines()
            keep = [l for l in lines if HOSTS_TAG not in l]
            if keep != lines:
                with open("/etc/hosts", "w") as f:   # in place
                    f.writelines(keep)
        except OSError:
            pass
        self.hosts_line_added = False
