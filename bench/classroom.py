"""A class on one server: a real JupyterHub with N simulated learners. Prints figures; asserts nothing.

    python bench/classroom.py --learners 20 --minutes 3     # the figure of issue 21 (about 6 minutes)
    python bench/classroom.py --learners 2 --minutes 1      # a quick look
    python bench/classroom.py --install-only                # prepare the tools (2-4 minutes, once)
    python bench/classroom.py --learners 1 --minutes 0.3 --inject-error   # see an error caught and printed

What runs, all on 127.0.0.1 and under a temporary directory (removed at the end unless --keep):
  - JupyterHub from PyPI and configurable-http-proxy from npm, installed on first use into
    ~/.cache/iommulab/classroom (IOMMULAB_CLASSROOM_CACHE moves it), never into the project's own
    environment. The learners' Python there is built as Binder builds the image: the pins of
    binder/repo2docker-base.txt (JupyterHub, JupyterLab, Jupyter Server, ipykernel, ipywidgets), then
    binder/requirements.txt, then binder/install-settings.py; iommulab itself is this work tree (a .pth
    file), so the run measures the code as it is now.
  - The hub with dummy authentication and SimpleLocalProcessSpawner (every single-user server runs as
    the current user, its home a folder of its own holding a copy of notebooks/, so progress files do
    not collide); default URL /lab/tree/notebooks/index.ipynb, as deploy/jupyterhub/values.yaml sets.
  - Each learner, on a thread of this process: is created and given a token over the Hub's REST API,
    starts its server (spawn time: request to ready), loads the default URL's page and the notebooks over
    the server's contents API, then over the kernel websocket, as JupyterLab does (jupyter_client's
    message protocol, JSON frames): runs the index's cells, then every code cell of the quick start in
    order, working its level (gpu-passthrough) where the notebook asks (a hint, a wrong write, check,
    the computed next step, a reset, the reference solution typed a line at a time, check again), then a
    seeded random walk of lab actions (bench/memory.py's LabWalk, one action per cell) until its minutes
    are over. Between cells it thinks (seeded, --think seconds).

Measured: spawn time per learner; RSS (and PSS, which counts a shared page once) of each learner's
kernel and single-user server, sampled every few seconds (/proc through psutil), at the end and at their
peak; the hub's and the proxy's; the machine's memory in use (MemTotal - MemAvailable) over the run; CPU
seconds per learner; time from execute_request to execute_reply of every cell (median, p95); errors: an
error reply, an error output or a traceback in any cell, each printed. From those, the learners a
64 GB / 16-core node carries, with the arithmetic.

Bounded: at most 40 learners and 30 minutes; a run that overstays its time is stopped. The hub, the proxy,
the servers, the kernels and anything they started are stopped by their own PIDs at the end, on Ctrl-C
and on an error (the hub first, which stops its servers and proxy; then every process seen in its tree
that is still there); the run ends by saying whether anything was left.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("IOMMULAB_CLASSROOM_CACHE") or Path.home() / ".cache" / "iommulab" / "classroom")
CHP_VERSION = "5.3.0"                    # configurable-http-proxy, from npm
MAX_LEARNERS, MAX_MINUTES = 40, 30
LEVEL = "gpu-passthrough"
DEFAULT_URL = "/lab/tree/notebooks/index.ipynb"
NODE_GB, NODE_CORES = 64, 16             # the node the sizing is for
RESERVED_GB = 4                          # kept for the OS, kubelet, the hub and the proxy on that node
CPU_TARGET = 0.7                         # of the node's cores the learners may use on average
MB = 1024 * 1024

# The quick start's level, worked as a learner works it (README "Levels"): each string is one cell.
LEVEL_CELLS_BEFORE = [
    "lv.hint()",
    'lv.sh("echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind")   # too early: no driver_override yet',
    "lv.check()",
    "lv.next_step()",
    "lv.reset()",
    "_solution = [line for chunk in lv.solution_chunks() for line in chunk.splitlines() if line.strip()]\n"
    "print(len(_solution))",
]
LEVEL_CELL_LINE = "lv.sh(_solution[{i}])"
LEVEL_CELL_AFTER = "_result = lv.check()\nassert _result.passed, str(_result)\n_result"
WALK_SETUP = (
    "import random, sys\n"
    "sys.path.insert(0, {bench!r})\n"
    "from memory import LabWalk          # bench/memory.py: the Lab's own callbacks, as clicks run them\n"
    "from iommulab import Kernel\n"
    "_walk = LabWalk(Kernel.from_scenario('desktop-gpu'))\n"
    "_rng = random.Random({seed})\n"
    "display(_walk.lab)"
)
WALK_CELL = "_walk.step(_rng)"


# --- the tools, in a cache outside the repository -------------------------------------------------------

def _pins():
    base = (REPO / "binder" / "repo2docker-base.txt").read_text()
    req = (REPO / "binder" / "requirements.txt").read_text()
    return base, req


def tools_dir():
    base, req = _pins()
    digest = hashlib.sha256((base + req + CHP_VERSION + sys.version).encode()).hexdigest()[:12]
    return CACHE / f"tools-{digest}"


def ensure_tools(log=print):
    """The hub, the proxy and the learners' Python, installed once (about 2-4 minutes here)."""
    tools = tools_dir()
    venv, npm = tools / "venv", tools / "npm"
    chp = npm / "node_modules" / ".bin" / "configurable-http-proxy"
    stamp = tools / "ready"
    if stamp.exists():
        return venv, chp
    for prog in ("npm", "node"):
        if shutil.which(prog) is None:
            raise SystemExit(f"classroom: {prog} is needed for configurable-http-proxy "
                             "(Debian: apt-get install nodejs npm)")
    log(f"classroom: installing JupyterHub, JupyterLab and configurable-http-proxy into {tools} (once)")
    if tools.exists():
        shutil.rmtree(tools)
    tools.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    base = REPO / "binder" / "repo2docker-base.txt"
    names = ["jupyterhub", "jupyterlab", "notebook", "jupyter_server", "ipykernel", "ipywidgets", "psutil",
             "websocket-client", "requests"]
    pip = [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c", str(base)]
    subprocess.run(pip + names + ["-r", str(REPO / "binder" / "requirements.txt")], check=True)
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "iommulab-worktree.pth").write_text(str(REPO) + "\n")     # iommulab as it is in the work tree
    subprocess.run([py, str(REPO / "binder" / "install-settings.py"), str(venv)], check=True,
                   stdout=subprocess.DEVNULL)
    npm.mkdir()
    subprocess.run(["npm", "install", "--prefix", str(npm), "--no-audit", "--no-fund", "--loglevel=error",
                    f"configurable-http-proxy@{CHP_VERSION}"], check=True)
    if not chp.exists():
        raise SystemExit(f"classroom: npm did not install {chp}")
    stamp.write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    return venv, chp


# --- processes: every one seen in the hub's tree, stopped by its PID ----------------------------------

class Tree:
    """The processes under the hub, as seen by repeated scans; stop() ends each one still there."""

    def __init__(self, psutil, root):
        self.psutil, self.root, self.seen, self.lock = psutil, root, {}, threading.Lock()

    def scan(self):
        ps = self.psutil
        try:
            procs = [self.root] + self.root.children(recursive=True)
        except ps.Error:
            procs = []
        with self.lock:
            for p in procs:
                try:
                    self.seen.setdefault(p.pid, (p, p.create_time()))
                except ps.Error:
                    pass
        return procs

    def alive(self):
        ps, out = self.psutil, []
        self.scan()
        with self.lock:
            items = list(self.seen.values())
        for p, created in items:
            try:
                if p.is_running() and p.create_time() == created and p.status() != ps.STATUS_ZOMBIE:
                    out.append(p)
            except ps.Error:
                pass
        return out

    def stop(self, grace=20.0):
        ps = self.psutil
        try:                                   # the hub first: it stops its servers and its proxy
            if self.root.is_running():
                self.root.send_signal(signal.SIGTERM)
                self.root.wait(grace)
        except (ps.Error, ps.TimeoutExpired):
            pass
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            left = self.alive()
            if not left:
                return []
            for p in left:
                try:
                    p.send_signal(sig)
                except ps.Error:
                    pass
            ps.wait_procs(left, timeout=wait)
        return self.alive()


# --- the kernel protocol over the websocket ------------------------------------------------------------

def _decode(frame):
    """A frame from the server's kernel websocket (JSON text, or the binary framing used for messages with
    buffers: a count, offsets, the JSON message, then the buffers)."""
    if isinstance(frame, str):
        return json.loads(frame)
    n = int.from_bytes(frame[:4], "big")
    offsets = [int.from_bytes(frame[4 + 4 * i:8 + 4 * i], "big") for i in range(n)]
    end = offsets[1] if n > 1 else len(frame)
    return json.loads(frame[offsets[0]:end].decode())


class KernelClient:
    def __init__(self, websocket, url, token, session):
        self.ws = websocket.create_connection(url, header=[f"Authorization: token {token}"], timeout=600,
                                              enable_multithread=True)
        self.session = session

    def execute(self, code, timeout=600.0):
        """Runs one cell: (seconds from execute_request to execute_reply, errors, text printed)."""
        msg_id = uuid.uuid4().hex
        msg = {"header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "learner",
                          "session": self.session, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                          "version": "5.3"},
               "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
               "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                           "allow_stdin": False, "stop_on_error": True}}
        t0 = time.perf_counter()
        self.ws.send(json.dumps(msg))
        reply_at, idle, errors, text = None, False, [], []
        deadline = t0 + timeout
        while reply_at is None or not idle:
            if time.perf_counter() > deadline:
                errors.append(f"no reply in {timeout:.0f} s")
                break
            m = _decode(self.ws.recv())
            if m.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = m["header"]["msg_type"], m.get("content", {})
            if kind == "execute_reply":
                reply_at = time.perf_counter()
                if content.get("status") != "ok":
                    errors.append(f"reply {content.get('status')}: {content.get('ename')}: {content.get('evalue')}")
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind == "error":
                errors.append(f"error output: {content.get('ename')}: {content.get('evalue')}")
            elif kind == "stream":
                text.append(content.get("text", ""))
            elif kind in ("execute_result", "display_data"):
                text.append(content.get("data", {}).get("text/plain", ""))
        out = "".join(text)
        if "Traceback (most recent call last)" in out:
            errors.append("traceback printed: " + out[out.index("Traceback"):][:300])
        return (reply_at or time.perf_counter()) - t0, errors, out

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


# --- one learner -----------------------------------------------------------------------------------------

class Learner:
    def __init__(self, name, hub, rng, think, minutes):
        self.name, self.hub, self.rng, self.think, self.minutes = name, hub, rng, think, minutes
        self.until = float("inf")             # set when the learner starts working: its minutes start then
        self.spawn_s = self.kernel_start_s = None
        self.replies, self.errors, self.cells, self.phase = [], [], 0, "waiting"
        self.progress_ok = False
        self.work_started = self.work_ended = None
        self.by_kind = {}                     # "00-quickstart", "level", "lab action", ...: reply seconds
        self.inject_error = False
        self.level_done = False

    def log_error(self, where, what):
        self.errors.append(f"{self.name} {where}: {what}")
        print(f"  ERROR {self.name} {where}: {what}", flush=True)

    def pause(self):
        time.sleep(self.rng.uniform(*self.think))

    def run(self):
        try:
            self._run()
        except Exception as e:                 # a learner that cannot go on is an error, not a crash of the run
            self.log_error(self.phase, f"{type(e).__name__}: {e}")
        finally:
            self.phase = "done"

    def _run(self):
        h, name = self.hub, self.name
        self.phase = "login"
        h.api("POST", f"/hub/api/users/{name}")
        token = h.api("POST", f"/hub/api/users/{name}/tokens", {"note": "classroom", "expires_in": 7200})["token"]
        self.phase = "spawn"
        t0 = time.perf_counter()
        h.api("POST", f"/hub/api/users/{name}/server", token=token, ok=(201, 202))
        while True:
            model = h.api("GET", f"/hub/api/users/{name}", token=token)
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                break
            if not model.get("pending") and not server:
                raise RuntimeError("the server stopped while starting (see the hub's log)")
            time.sleep(1.0)
        self.spawn_s = time.perf_counter() - t0
        base = f"/user/{name}"
        self.phase = "open"
        h.get_page(base + DEFAULT_URL, token)          # the page the default URL opens
        self.work_started = time.perf_counter()
        self.until = self.work_started + self.minutes * 60
        self.notebook(base, token, "notebooks/index.ipynb", shutdown=True)
        self.notebook(base, token, "notebooks/00-quickstart.ipynb", walk=True)
        progress = Path(h.homes, name, "notebooks", ".iommulab-progress.json")
        try:
            self.progress_ok = LEVEL in json.loads(progress.read_text()).get("levels", {})
        except (OSError, ValueError):
            self.progress_ok = False
        if self.level_done and not self.progress_ok:
            self.log_error("progress", f"{progress} does not record the level {LEVEL}")
        self.work_ended = time.perf_counter()

    def notebook(self, base, token, path, shutdown=False, walk=False):
        h = self.hub
        self.phase = path
        nb = h.api("GET", f"{base}/api/contents/{path}?type=notebook&content=1", token=token)["content"]
        t0 = time.perf_counter()
        sess = h.api("POST", f"{base}/api/sessions", {"path": path, "type": "notebook", "name": Path(path).name,
                                                        "kernel": {"name": "python3"}}, token=token, ok=(201,))
        kid = sess["kernel"]["id"]
        url = f"ws://127.0.0.1:{h.port}{base}/api/kernels/{kid}/channels?session_id={uuid.uuid4().hex}"
        kc = KernelClient(h.websocket, url, token, uuid.uuid4().hex)
        try:
            if self.kernel_start_s is None:
                self.kernel_start_s = time.perf_counter() - t0
            for i, cell in enumerate(nb["cells"]):
                if cell["cell_type"] != "code":
                    continue
                src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                if not src.strip():
                    continue
                self.cell(kc, f"{Path(path).name}[{i}]", src, kind=Path(path).stem)
                if self.inject_error:         # --inject-error: one failing cell, to see the error path work
                    self.inject_error = False
                    self.cell(kc, "injected", "raise ValueError('injected by --inject-error')", kind="injected")
                if walk and "lv.check()" in src and not self.level_done:
                    self.level_done = True
                    self.work_level(kc)
                if time.perf_counter() > self.until:
                    return
            if walk:
                self.phase = "walk"
                setup = WALK_SETUP.format(bench=str(REPO / "bench"), seed=self.rng.randrange(1 << 30))
                self.cell(kc, "walk setup", setup, kind="lab action")
                n = 0
                while time.perf_counter() < self.until:
                    n += 1
                    self.cell(kc, f"walk[{n}]", WALK_CELL, kind="lab action")
        finally:
            kc.close()
            if shutdown:
                h.api("DELETE", f"{base}/api/sessions/{sess['id']}", token=token, ok=(204,))

    def work_level(self, kc):
        self.phase = "level"
        out = ""
        for code in LEVEL_CELLS_BEFORE:
            out = self.cell(kc, "level", code, kind="level")
        try:
            n = int(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.log_error("level", f"could not read the solution's length from {out!r}")
            return
        for i in range(n):
            self.cell(kc, f"level line {i + 1}", LEVEL_CELL_LINE.format(i=i), kind="level")
        self.cell(kc, "level check", LEVEL_CELL_AFTER, kind="level")
        self.phase = "quick start"

    def cell(self, kc, where, code, kind):
        self.pause()
        seconds, errors, out = kc.execute(code)
        self.cells += 1
        self.replies.append(seconds)
        self.by_kind.setdefault(kind, []).append(seconds)
        if errors:                            # one error per cell, however many ways it showed
            self.log_error(where, "; ".join(dict.fromkeys(errors)))
        return out


# --- the hub -----------------------------------------------------------------------------------------------

def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    def __init__(self, tmp, venv, chp, learners):
        import requests
        import websocket
        self.requests, self.websocket = requests, websocket
        self.dir, self.homes = tmp / "hub", tmp / "homes"
        self.dir.mkdir()
        self.homes.mkdir()
        self.port, self.hub_port, self.api_port = free_port(), free_port(), free_port()
        self.token = uuid.uuid4().hex + uuid.uuid4().hex
        self.local = threading.local()        # a requests.Session per learner thread
        root = os.geteuid() == 0
        for i in range(learners):
            home = self.homes / learner_name(i)
            shutil.copytree(REPO / "notebooks", home / "notebooks",
                            ignore=shutil.ignore_patterns(".iommulab-progress.json*", ".ipynb_checkpoints"))
        config = f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {self.port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {self.hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.api_port}"
c.ConfigurableHTTPProxy.command = [{str(chp)!r}]
c.ConfigurableHTTPProxy.pid_file = {str(self.dir / "proxy.pid")!r}
c.JupyterHub.db_url = "sqlite:///{self.dir / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(self.dir / "cookie_secret")!r}
c.JupyterHub.pid_file = {str(self.dir / "hub.pid")!r}
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(self.homes) + "/{username}"!r}
c.Spawner.cmd = [{str(venv / "bin" / "jupyterhub-singleuser")!r}]
c.Spawner.args = {["--ServerApp.allow_root=True"] if root else []!r}
c.Spawner.default_url = {DEFAULT_URL!r}
c.Spawner.environment = {{"PATH": {str(venv / "bin") + ":/usr/local/bin:/usr/bin:/bin"!r}}}
c.Spawner.start_timeout = 900
c.Spawner.http_timeout = 900
c.JupyterHub.concurrent_spawn_limit = {MAX_LEARNERS}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
c.JupyterHub.services = [{{"name": "classroom", "api_token": {self.token!r}}}]
c.JupyterHub.load_roles = [{{"name": "classroom", "services": ["classroom"],
                             "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"]}}]
"""
        (self.dir / "jupyterhub_config.py").write_text(config)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON", "VIRTUAL_ENV"))}
        env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        self.log_path = self.dir / "jupyterhub.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([str(venv / "bin" / "jupyterhub"), "-f", str(self.dir / "jupyterhub_config.py")],
                                     cwd=self.dir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def http(self):
        if not hasattr(self.local, "session"):
            self.local.session = self.requests.Session()
        return self.local.session

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout=180):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the hub exited ({self.proc.returncode}); its log: {self.log_path}")
            try:
                if self.http.get(self.url("/hub/api/"), timeout=5).status_code == 200:
                    return time.time() - t0
            except self.requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the hub did not answer in {timeout} s; its log: {self.log_path}")

    def api(self, method, path, body=None, token=None, ok=(200, 201)):
        r = self.http.request(method, self.url(path), json=body, timeout=900,
                              headers={"Authorization": f"token {token or self.token}"})
        if r.status_code not in ok:
            raise RuntimeError(f"{method} {path}: HTTP {r.status_code} {r.text[:200]}")
        return r.json() if r.content else {}

    def get_page(self, path, token):
        r = self.http.get(self.url(path), headers={"Authorization": f"token {token}"}, timeout=900)
        if r.status_code != 200:
            raise RuntimeError(f"GET {path}: HTTP {r.status_code}")


def learner_name(i):
    return f"learner{i + 1:02d}"


# --- sampling ----------------------------------------------------------------------------------------------

def meminfo_used_mb():
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, value = line.split(":", 1)
        info[key] = int(value.split()[0])
    return (info["MemTotal"] - info["MemAvailable"]) / 1024


class Sampler(threading.Thread):
    """Every few seconds: each process under the hub, classified (server, kernel, proxy, other) and tied to
    its learner by JUPYTERHUB_USER; RSS and PSS, peak and last; CPU seconds."""

    def __init__(self, psutil, tree, every=5.0):
        super().__init__(daemon=True)
        self.psutil, self.tree, self.every = psutil, tree, every
        self.stop_event = threading.Event()
        self.procs = {}              # pid -> dict(kind, user, rss, pss, peak_rss, peak_pss, cpu)
        self.used_mb = [meminfo_used_mb()]
        self.baseline_mb = self.used_mb[0]

    def classify(self, p):
        try:
            cmd = " ".join(p.cmdline())
        except self.psutil.Error:
            return None, None
        if p.pid == self.tree.root.pid:
            return "hub", None
        if "configurable-http-proxy" in cmd:
            return "proxy", None
        try:
            user = p.environ().get("JUPYTERHUB_USER")
        except self.psutil.Error:
            user = None
        if "jupyterhub-singleuser" in cmd:
            return "server", user
        if "ipykernel" in cmd:
            return "kernel", user
        return "other", user

    def sample(self):
        ps = self.psutil
        for p in self.tree.scan():
            rec = self.procs.get(p.pid)
            if rec is None:
                kind, user = self.classify(p)
                if kind is None:
                    continue
                rec = self.procs[p.pid] = {"kind": kind, "user": user, "name": p.name(), "rss": 0, "pss": 0,
                                           "peak_rss": 0, "peak_pss": 0, "cpu": 0.0, "alive": True}
            try:
                with p.oneshot():
                    rss = p.memory_info().rss
                    try:
                        pss = p.memory_full_info().pss
                    except (ps.Error, AttributeError):
                        pss = rss
                    t = p.cpu_times()
                rec.update(rss=rss, pss=pss, peak_rss=max(rec["peak_rss"], rss), peak_pss=max(rec["peak_pss"], pss),
                           cpu=t.user + t.system + t.children_user + t.children_system)
            except ps.Error:
                pass
        alive = {p.pid for p in self.tree.scan()}
        for pid, rec in self.procs.items():
            rec["alive"] = pid in alive
        self.used_mb.append(meminfo_used_mb())

    def run(self):
        while not self.stop_event.wait(self.every):
            try:
                self.sample()
            except Exception as e:            # a sample missed is not a reason to stop the class
                print(f"  (sampler: {type(e).__name__}: {e})", flush=True)


# --- the report ---------------------------------------------------------------------------------------------

def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def report(learners, sampler, args, wall):
    procs = sampler.procs
    print()
    print(f"classroom: {len(learners)} learners, {args.minutes:g} min each, "
          f"think {args.think[0]:g}-{args.think[1]:g} s, "
          f"seed {args.seed}, on {os.cpu_count()} cores; {wall:.0f} s in all")
    print(f"{'learner':10} {'spawn s':>7} {'kernel1 s':>9} {'cells':>5} {'med ms':>7} {'p95 ms':>7} "
          f"{'kernel MB':>9} {'peak':>6} {'server MB':>9} {'peak':>6} {'PSS MB':>7} {'CPU s':>6} {'errors':>6}")
    rows = []
    for lr in learners:
        mine = [r for r in procs.values() if r["user"] == lr.name]
        kernels = [r for r in mine if r["kind"] == "kernel"]
        live_k = [r for r in kernels if r["alive"]] or kernels[-1:]
        servers = [r for r in mine if r["kind"] == "server"]
        k_rss = sum(r["rss"] for r in live_k) / MB
        k_peak = max((r["peak_rss"] for r in kernels), default=0) / MB
        s_rss = sum(r["rss"] for r in servers) / MB
        s_peak = max((r["peak_rss"] for r in servers), default=0) / MB
        pss = sum(r["pss"] for r in live_k + servers) / MB
        cpu = sum(r["cpu"] for r in mine)
        active = (lr.work_ended or time.perf_counter()) - (lr.work_started or time.perf_counter())
        rows.append(dict(k=k_rss, kp=k_peak, s=s_rss, sp=s_peak, pss=pss, cpu=cpu, active=active))
        print(f"{lr.name:10} {lr.spawn_s or float('nan'):7.1f} {lr.kernel_start_s or float('nan'):9.1f} "
              f"{lr.cells:5} {1000 * pct(lr.replies, 0.5):7.0f} {1000 * pct(lr.replies, 0.95):7.0f} "
              f"{k_rss:9.0f} {k_peak:6.0f} {s_rss:9.0f} {s_peak:6.0f} {pss:7.0f} {cpu:6.1f} {len(lr.errors):6}")
    replies = [s for lr in learners for s in lr.replies]
    errors = [e for lr in learners for e in lr.errors]
    spawns = [lr.spawn_s for lr in learners if lr.spawn_s is not None]
    hub_rss = sum(r["rss"] for r in procs.values() if r["kind"] in ("hub", "proxy") and r["alive"]) / MB
    tree_rss = sum(r["rss"] for r in procs.values() if r["alive"]) / MB
    tree_pss = sum(r["pss"] for r in procs.values() if r["alive"]) / MB
    others = sorted({r["name"] for r in procs.values() if r["kind"] == "other"})
    per = [r["k"] + r["s"] for r in rows] or [float("nan")]
    per_peak = [r["kp"] + r["sp"] for r in rows] or [float("nan")]
    per_pss = [r["pss"] for r in rows] or [float("nan")]
    print()
    print(f"spawn (request to ready): median {pct(spawns, 0.5):.1f} s, max {max(spawns, default=float('nan')):.1f} s")
    print(f"execute_request -> execute_reply: {len(replies)} cells, median {1000 * pct(replies, 0.5):.0f} ms, "
          f"p95 {1000 * pct(replies, 0.95):.0f} ms, max {1000 * max(replies, default=float('nan')):.0f} ms")
    for kind in sorted({k for lr in learners for k in lr.by_kind}):
        these = [s for lr in learners for s in lr.by_kind.get(kind, [])]
        print(f"  {kind:14} {len(these):5} cells, median {1000 * pct(these, 0.5):5.0f} ms, "
              f"p95 {1000 * pct(these, 0.95):5.0f} ms")
    print(f"per learner at the end (kernel + server): RSS median {statistics.median(per):.0f} MB, "
          f"max {max(per):.0f} MB; "
          f"peak RSS max {max(per_peak):.0f} MB; PSS median {statistics.median(per_pss):.0f} MB")
    print(f"  kernel RSS median {statistics.median([r['k'] for r in rows] or [0]):.0f} MB, "
          f"server RSS median {statistics.median([r['s'] for r in rows] or [0]):.0f} MB"
          + (f"; other processes seen: {', '.join(others)}" if others else ""))
    print(f"hub + proxy RSS {hub_rss:.0f} MB; everything under the hub: RSS {tree_rss:.0f} MB, PSS {tree_pss:.0f} MB; "
          f"machine memory in use: {sampler.baseline_mb:.0f} MB before, peak {max(sampler.used_mb):.0f} MB "
          f"(+{max(sampler.used_mb) - sampler.baseline_mb:.0f} MB)")
    progress = sum(1 for lr in learners if lr.progress_ok)
    print(f"progress files recording {LEVEL}: {progress} of {len(learners)} (one per learner's home)")
    print(f"errors: {len(errors)}")
    for e in errors[:40]:
        print(f"  {e}")
    # Sizing: memory and CPU, each a bound; the node carries the smaller.
    cpu_rate = [r["cpu"] / r["active"] for r in rows if r["active"] > 0]
    mem_per = max(per_peak) if rows else float("nan")
    print()
    print(f"sizing a {NODE_GB} GB / {NODE_CORES}-core node (assumptions: {RESERVED_GB} GB kept for the OS, kubelet, "
          f"hub and proxy; a learner's memory is its kernel + server peak RSS, the largest seen here; the learners "
          f"keep this pace; they may use {CPU_TARGET:.0%} of the cores on average):")
    if rows and mem_per == mem_per:
        by_mem = int((NODE_GB - RESERVED_GB) * 1024 // mem_per)
        print(f"  memory: ({NODE_GB} - {RESERVED_GB}) GB x 1024 / {mem_per:.0f} MB = {by_mem} learners")
        if cpu_rate:
            rate = statistics.median(cpu_rate)
            by_cpu = int(NODE_CORES * CPU_TARGET / rate) if rate > 0 else 0
            print(f"  CPU: median {rate:.3f} core per learner while working (CPU s / active s); "
                  f"{NODE_CORES} x {CPU_TARGET} / {rate:.3f} = {by_cpu} learners")
            print(f"  => about {min(by_mem, by_cpu)} learners per node "
                  f"({'memory' if by_mem <= by_cpu else 'CPU'} is the limit)")
    return errors


# --- main -------------------------------------------------------------------------------------------------

def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--learners", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=3.0, help="each learner's working time, from its first cell")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--think", type=lambda s: tuple(float(x) for x in s.split(",")), default=(2.0, 6.0),
                    help="a learner's think time between cells, MIN,MAX seconds (default 2,6)")
    ap.add_argument("--ramp", type=float, default=30.0, help="learners arrive spread over this many seconds")
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between memory samples")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (the hub's log, the homes)")
    ap.add_argument("--install-only", action="store_true")
    ap.add_argument("--inject-error", action="store_true",
                    help="the first learner runs one failing cell (checks that errors are caught and printed)")
    args = ap.parse_args(argv)
    if not 1 <= args.learners <= MAX_LEARNERS:
        ap.error(f"--learners: 1 to {MAX_LEARNERS}")
    if not 0.1 <= args.minutes <= MAX_MINUTES:
        ap.error(f"--minutes: 0.1 to {MAX_MINUTES}")
    if len(args.think) != 2 or not 0 <= args.think[0] <= args.think[1] <= 120:
        ap.error("--think: MIN,MAX with 0 <= MIN <= MAX <= 120")
    args.ramp = min(max(args.ramp, 0.0), 600.0)
    return args


def main(argv):
    args = parse(argv)
    venv, chp = ensure_tools()
    py = venv / "bin" / "python"
    if Path(sys.prefix).resolve() != venv.resolve():    # go on in the tools' Python (psutil, requests, websocket)
        os.execv(str(py), [str(py), str(Path(__file__).resolve()), *argv])
    if args.install_only:
        print(f"classroom: tools ready in {venv.parent}")
        return 0
    import psutil

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    tmp = Path(tempfile.mkdtemp(prefix="iommulab-classroom-"))
    hub = tree = sampler = None
    learners, errors, t_start, finished = [], [], time.perf_counter(), False
    try:
        hub = Hub(tmp, venv, chp, args.learners)
        tree = Tree(psutil, psutil.Process(hub.proc.pid))
        sampler = Sampler(psutil, tree, args.sample)
        print(f"classroom: hub on http://127.0.0.1:{hub.port}/ (state in {tmp}); "
              f"ready in {hub.wait_ready():.1f} s", flush=True)
        sampler.sample()
        sampler.baseline_mb = sampler.used_mb[0]
        sampler.start()
        rng = random.Random(args.seed)
        offsets = sorted(rng.uniform(0, args.ramp) for _ in range(args.learners))
        threads = []
        t0 = time.perf_counter()
        budget = args.ramp + args.minutes * 60 + 900           # past this, the run is stopped
        for i, off in enumerate(offsets):
            lr = Learner(learner_name(i), hub, random.Random(rng.randrange(1 << 30)), args.think, args.minutes)
            lr.inject_error = args.inject_error and i == 0
            learners.append(lr)

            def go(lr=lr, off=off):
                time.sleep(max(0.0, t0 + off - time.perf_counter()))
                lr.run()
            th = threading.Thread(target=go, name=lr.name, daemon=True)
            th.start()
            threads.append(th)
        last = 0.0
        while any(th.is_alive() for th in threads):
            if time.perf_counter() - t0 > budget:
                print(f"classroom: over the time budget ({budget:.0f} s): stopping", flush=True)
                for lr in learners:
                    if lr.phase != "done":
                        lr.errors.append(f"{lr.name}: still in {lr.phase} at the time budget")
                break
            if time.perf_counter() - last > 30:
                last = time.perf_counter()
                phases = {}
                for lr in learners:
                    phases[lr.phase] = phases.get(lr.phase, 0) + 1
                cells = sum(lr.cells for lr in learners)
                print(f"  {time.perf_counter() - t0:5.0f} s: {cells} cells, {sum(len(lr.errors) for lr in learners)} "
                      f"errors, " + ", ".join(f"{n} {p}" for p, n in sorted(phases.items())), flush=True)
            time.sleep(1)
        sampler.sample()
        errors = report(learners, sampler, args, time.perf_counter() - t_start)
        finished = True
    except KeyboardInterrupt as e:
        print(f"classroom: interrupted ({e}); stopping everything", flush=True)
        errors = ["interrupted"]
    finally:
        if sampler is not None:
            sampler.stop_event.set()
        left = tree.stop() if tree is not None else []
        if hub is not None:
            hub.log.close()
            if hub.proc.poll() is None:
                hub.proc.kill()
        if left:
            print(f"classroom: STILL RUNNING after stop: {[p.pid for p in left]}")
        elif tree is not None:
            print(f"classroom: stopped {len(tree.seen)} processes by their PIDs; nothing left running")
        if args.keep or not finished:
            print(f"classroom: kept {tmp} (the hub's log: {tmp / 'hub' / 'jupyterhub.log'})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
