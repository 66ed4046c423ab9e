#!/usr/bin/env python3
"""The checks of deploy/check.sh (which installs the tools and calls this).

Each check prints PASS or FAIL with the reason; the last line is
"deploy: N passed, N failed" and the exit code is 1 if any failed.
Needs PyYAML (the venv of deploy/check.sh has it).
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
# The CRDs of the Prometheus Operator have no schema in kubernetes-validate
# (it bundles the core API only), and Kustomization is not an API object.
NO_SCHEMA_KINDS = {"ServiceMonitor", "PrometheusRule", "Kustomization"}
# Oldest and newest Kubernetes versions the manifests are validated against.
K8S_VERSIONS = ["1.28.0", "1.37.0"]

args = None
results = []


class Fail(Exception):
    pass


def check(name):
    def wrap(fn):
        results.append((name, fn))
        return fn

    return wrap


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def must(cond, msg):
    if not cond:
        raise Fail(msg)


def load_all(path):
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def k8s_objects():
    objs = []
    for f in sorted(K8S.glob("*.yaml")):
        for d in load_all(f):
            objs.append((f, d))
    return objs


def one(kind, name=None):
    found = [
        d
        for _, d in k8s_objects()
        if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)
    ]
    must(len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}")
    return found[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Kubernetes -----------------------------------------------------------------


@check("kubernetes manifests validate against the API schemas (strict)")
def k8s_schemas():
    files = [str(f) for f, d in k8s_objects() if d.get("kind") not in NO_SCHEMA_KINDS]
    files = sorted(set(files))
    must(files, "no manifests found")
    for v in K8S_VERSIONS:
        r = run([args.kubernetes_validate, "--strict", "--quiet", "-k", v, *files])
        must(r.returncode == 0, f"kubernetes {v}:\n{r.stdout}{r.stderr}")
    skipped = sorted({d["kind"] for _, d in k8s_objects() if d.get("kind") in NO_SCHEMA_KINDS})
    print(f"    schema-checked {len(files)} files for {', '.join(K8S_VERSIONS)}; "
          f"no schema bundled for {', '.join(skipped)}: cross-checked below instead")


@check("kustomization lists every manifest")
def kustomization():
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(k["resources"])
    present = {f.name for f in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    must(listed == present, f"listed {sorted(listed)} but the folder has {sorted(present)}")


@check("StatefulSet: one replica, non-root, read-only root, limits, probes, secret env, store volume")
def statefulset():
    s = one("StatefulSet", "parley")
    spec = s["spec"]
    must(spec["replicas"] == 1, "replicas must be 1: one component connection and one store writer")
    pod = spec["template"]["spec"]
    # Service links put PARLEY_<SERVICE>_* variables into the pod; parley would
    # read them as config keys and stop at the unknown key.
    must(pod.get("enableServiceLinks") is False, "enableServiceLinks must be false")
    must(pod["securityContext"].get("runAsNonRoot") is True, "pod runAsNonRoot")
    must(isinstance(pod["securityContext"].get("runAsUser"), int)
         and pod["securityContext"]["runAsUser"] > 0, "numeric non-root runAsUser")
    (c,) = pod["containers"]
    sc = c["securityContext"]
    must(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    must(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false")
    must(sc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities drop ALL")
    for k in ("requests", "limits"):
        must({"cpu", "memory"} <= set(c["resources"].get(k, {})), f"resources.{k} cpu and memory")
    ports = {p["name"]: p for p in c["ports"]}
    must(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}, "liveness /healthz on metrics")
    must(c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}, "readiness /readyz on metrics")
    conf = tomllib_load(K8S / "parley.toml")
    mport = int(conf["metrics"]["listen"].rsplit(":", 1)[1])
    must(ports["metrics"]["containerPort"] == mport, f"metrics port {mport} as in parley.toml")
    env = {e["name"]: e for e in c["env"]}
    ref = env["PARLEY_XMPP__SECRET"]["valueFrom"]["secretKeyRef"]
    secret = one("Secret", ref["name"])
    must(ref["key"] in secret.get("stringData", {}) or ref["key"] in secret.get("data", {}),
         f"Secret {ref['name']} has no key {ref['key']}")
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    store = conf["store"]["path"]
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
    must(mounts.get(store) in claims, f"store.path {store} must be a PersistentVolumeClaim mount")
    cfg_arg = c["args"][c["args"].index("--config") + 1]
    must(os.path.dirname(cfg_arg) in mounts, f"--config {cfg_arg} is not in a mounted volume")
    for name in ("PARLEY_SIP__TLS__CERT", "PARLEY_SIP__TLS__KEY"):
        must(os.path.dirname(env[name]["value"]) in mounts, f"{name} is not in a mounted volume")
    for p in ("sip-udp", "sip-tcp", "sip-tls"):
        must(p in ports, f"container port {p}")


@check("Services select the pod and target its named ports")
def services():
    pod = one("StatefulSet", "parley")["spec"]["template"]
    labels = pod["metadata"]["labels"]
    names = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
    svcs = [d for _, d in k8s_objects() if d["kind"] == "Service"]
    must(svcs, "no Service")
    for s in svcs:
        sel = s["spec"]["selector"]
        must(all(labels.get(k) == v for k, v in sel.items()), f"Service {s['metadata']['name']} selects no pod")
        for p in s["spec"]["ports"]:
            must(p["targetPort"] in names, f"Service {s['metadata']['name']} targets unknown port {p['targetPort']}")
    sip = one("Service", "parley-sip")
    got = {(p["port"], p["protocol"]) for p in sip["spec"]["ports"]}
    must({(5060, "UDP"), (5060, "TCP"), (5061, "TCP")} <= got, f"parley-sip ports {sorted(got)}")
    gov = one("StatefulSet", "parley")["spec"]["serviceName"]
    must(one("Service", gov)["spec"].get("clusterIP") == "None", "the governing Service must be headless")


@check("ServiceMonitor (no schema: cross-checked) selects the metrics Service and port")
def servicemonitor():
    sm = one("ServiceMonitor", "parley")
    must(sm["apiVersion"] == "monitoring.coreos.com/v1", "apiVersion monitoring.coreos.com/v1")
    sel = sm["spec"]["selector"]["matchLabels"]
    ns = sm["spec"].get("namespaceSelector", {}).get("matchNames", [sm["metadata"]["namespace"]])
    hits = [
        s for _, s in k8s_objects()
        if s["kind"] == "Service" and s["metadata"]["namespace"] in ns
        and all(s["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())
    ]
    must(len(hits) == 1, f"selector {sel} matches {len(hits)} Services")
    ports = {p["name"] for p in hits[0]["spec"]["ports"]}
    for e in sm["spec"]["endpoints"]:
        must(e["port"] in ports, f"endpoint port {e['port']} not on Service {hits[0]['metadata']['name']}")
        must(e.get("path", "/metrics") == "/metrics", "path /metrics")
    allowed = {"namespaceSelector", "selector", "endpoints", "jobLabel", "targetLabels", "podTargetLabels"}
    must(set(sm["spec"]) <= allowed, f"unexpected ServiceMonitor spec keys {set(sm['spec']) - allowed}")


@check("PrometheusRule (no schema: cross-checked) carries exactly deploy/prometheus/parley-alerts.yml")
def prometheusrule():
    pr = one("PrometheusRule", "parley")
    rules = yaml.safe_load((DEPLOY / "prometheus/parley-alerts.yml").read_text())
    must(pr["spec"]["groups"] == rules["groups"],
         "spec.groups differs from parley-alerts.yml: copy the groups over")


@check("ConfigMap carries deploy/kubernetes/parley.toml byte for byte")
def configmap():
    cm = one("ConfigMap", "parley-config")
    must(cm["data"]["parley.toml"] == (K8S / "parley.toml").read_text(encoding="utf-8"),
         "configmap.yaml data.parley.toml differs from parley.toml")


@check("Secrets hold placeholders only")
def secrets():
    for f, d in k8s_objects():
        if d["kind"] != "Secret":
            continue
        must("data" not in d, f"{f.name}: use stringData placeholders, not data")
        for k, v in d.get("stringData", {}).items():
            must(v == "REPLACE-ME", f"{f.name} {d['metadata']['name']}.{k} is not the placeholder REPLACE-ME")
    for f in DEPLOY.rglob("*"):
        if f.is_file() and f.suffix in {".yaml", ".yml", ".toml", ".lua", ".json"}:
            must("PRIVATE KEY-----" not in f.read_text(errors="replace"), f"{f} holds a private key")


# --- parley itself ----------------------------------------------------------------


def tomllib_load(path):
    import tomllib

    return tomllib.loads(path.read_text(encoding="utf-8"))


@check("parley check-config accepts every deploy config, the Kubernetes one with the pod's environment")
def check_config():
    for f in sorted(DEPLOY.rglob("*.toml")):
        r = run([args.parley, "check-config", str(f)], env={"PATH": os.environ["PATH"]})
        must(r.returncode == 0, f"{f}: {r.stdout}{r.stderr}")
    # The StatefulSet's environment, with the TLS files at temporary paths.
    c = one("StatefulSet", "parley")["spec"]["template"]["spec"]["containers"][0]
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-days", "1", "-subj", "/CN=sip.example.net",
                 "-keyout", str(key), "-out", str(cert)])
        must(r.returncode == 0, f"openssl: {r.stderr}")
        env = {"PATH": os.environ["PATH"]}
        for e in c["env"]:
            if "value" in e:
                env[e["name"]] = e["value"]
            elif "fieldRef" in e.get("valueFrom", {}):
                # The downward API: the pod's own name, e.g. the first replica's.
                must(e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name",
                     f"{e['name']}: only the pod's name comes from the downward API")
                env[e["name"]] = "parley-0"
            else:
                env[e["name"]] = "from-the-secret"
        env["PARLEY_SIP__TLS__CERT"], env["PARLEY_SIP__TLS__KEY"] = str(cert), str(key)
        r = run([args.parley, "check-config", str(K8S / "parley.toml")], env=env)
        must(r.returncode == 0, f"with the pod's env: {r.stdout}{r.stderr}")
        # Why enableServiceLinks is false: a link variable stops parley.
        linked = dict(env, PARLEY_SIP_SERVICE_HOST="10.0.0.1")
        r2 = run([args.parley, "check-config", str(K8S / "parley.toml")], env=linked)
        if r2.returncode == 0:
            print("    parley now ignores service-link variables: enableServiceLinks: false may go")
        must("tls:0.0.0.0:5061" in r.stdout, "the pod's env must add the tls listener:\n" + r.stdout)
        must("from-the-secret" not in r.stdout, "check-config printed the secret")


def scrape_parley():
    """Start parley on loopback (no XMPP server: the component stays down) and read its endpoints."""
    mport, dead = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp, "parley.toml")
        conf.write_text(
            f'[xmpp]\ncomponent_domain = "sip.localhost"\nserver = "127.0.0.1:{dead}"\nsecret = "x"\n'
            f'[sip]\ndomain = "sip.localhost"\nlisten = ["udp:127.0.0.1:0"]\n'
            f'[metrics]\nlisten = "127.0.0.1:{mport}"\n[store]\npath = "{tmp}/store"\n'
        )
        # A clean environment: every PARLEY_* variable would override the config.
        log = open(Path(tmp, "parley.log"), "w+")
        p = subprocess.Popen([args.parley, "--config", str(conf)], stdout=subprocess.DEVNULL,
                             stderr=log, env={"PATH": os.environ["PATH"]})
        try:
            base = f"http://127.0.0.1:{mport}"
            deadline = time.monotonic() + 15
            while True:
                try:
                    metrics = urllib.request.urlopen(base + "/metrics", timeout=2).read().decode()
                    break
                except (urllib.error.URLError, OSError):
                    if p.poll() is not None:
                        log.seek(0)
                        raise Fail(f"parley exited: {log.read()}")
                    must(time.monotonic() < deadline, "parley's /metrics did not answer in 15 s")
                    time.sleep(0.2)
            health = urllib.request.urlopen(base + "/healthz", timeout=2).status
            try:
                ready = urllib.request.urlopen(base + "/readyz", timeout=2).status
            except urllib.error.HTTPError as e:
                ready = e.code
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.close()
    return metrics, health, ready


def exported_metrics():
    """name -> type, from gateway/src/metrics.rs and a live scrape (they must agree)."""
    src = (ROOT / "gateway/src/metrics.rs").read_text(encoding="utf-8")
    names = {}
    ctor = re.compile(r"\b(IntCounterVec|IntCounter|CounterVec|Counter|IntGaugeVec|IntGauge|GaugeVec|Gauge"
                      r"|HistogramOpts|HistogramVec|Histogram|Opts)::new\(\s*\"([a-z_:][a-z0-9_:]*)\"")
    for m in ctor.finditer(src):
        kind, name = m.groups()
        if kind == "Opts":  # Opts::new is wrapped by the type just before it
            before = src[: m.start()]
            kind = re.findall(r"\b(IntCounterVec|IntCounter|IntGaugeVec|IntGauge|CounterVec|GaugeVec)::new\(", before)[-1]
        names[name] = "histogram" if "Histogram" in kind else "counter" if "Counter" in kind else "gauge"
    must(len(names) >= 10, f"found only {sorted(names)} in metrics.rs: has its style changed?")
    text, health, ready = scrape_parley()
    live = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    for n, t in live.items():
        if n in names:
            must(names[n] == t, f"{n}: metrics.rs says {names[n]}, /metrics says {t}")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Health and metrics", 1)[1].split("\n## ", 1)[0]
    table = set(re.findall(r"^\| `(parley_[a-z0-9_]+)`", section, re.M))
    missing_in_readme = set(names) - table
    must(not missing_in_readme, f"README metrics table lacks {sorted(missing_in_readme)}")
    all_names = {**live, **names}
    for n in table - set(all_names):
        raise Fail(f"README lists {n}, which parley does not export")
    return all_names, health, ready


@check("parley answers /healthz 200 and /readyz 503 without the component (what the probes rely on)")
def probes():
    _, health, ready = exported_metrics_cached()
    must(health == 200, f"/healthz answered {health}")
    must(ready == 503, f"/readyz answered {ready} with no XMPP server")


_cache = {}


def exported_metrics_cached():
    """Start parley once; a failure fails every check that needs it, with the same reason."""
    if "m" not in _cache:
        try:
            _cache["m"] = exported_metrics()
        except Fail as e:
            _cache["m"] = e
    if isinstance(_cache["m"], Fail):
        raise _cache["m"]
    return _cache["m"]


# --- Grafana ---------------------------------------------------------------------


def dashboard_exprs():
    d = json.loads((DEPLOY / "grafana/parley-dashboard.json").read_text(encoding="utf-8"))
    exprs = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                exprs.append((p["title"], t["expr"]))
            walk(p.get("panels", []))

    walk(d["panels"])
    must(exprs, "the dashboard has no queries")
    return exprs


@check("dashboard JSON is what build-dashboard.py writes")
def dashboard_fresh():
    r = run([sys.executable, str(DEPLOY / "grafana/build-dashboard.py"), "--check"])
    must(r.returncode == 0, r.stderr)


@check("dashboard shows every exported metric (counters as rate, histograms as quantiles)")
def dashboard_coverage():
    names, _, _ = exported_metrics_cached()
    exprs = [e for _, e in dashboard_exprs()]
    missing = []
    for n, t in sorted(names.items()):
        if t == "counter":
            pat = rf"\b(rate|irate|increase)\(\s*{n}\b"
        elif t == "histogram":
            pat = rf"histogram_quantile\(.*\b{n}_bucket\b"
        else:
            pat = rf"\b{n}\b"
        if not any(re.search(pat, e) for e in exprs):
            missing.append(f"{n} ({t})")
    must(not missing, "no panel for: " + ", ".join(missing))
    print(f"    {len(names)} metrics, {len(exprs)} panel queries")


@check("dashboard queries are valid PromQL (promtool)")
def dashboard_promql():
    rules = []
    for i, (title, e) in enumerate(dashboard_exprs()):
        e = e.replace("$__rate_interval", "5m").replace("$job", ".*").replace("$instance", ".*")
        rules.append({"record": f"dashboard:q{i}", "expr": e})
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        f.flush()
        r = run([args.promtool, "check", "rules", f.name])
        must(r.returncode == 0, r.stdout + r.stderr)


# --- Prometheus ------------------------------------------------------------------


@check("alert rules: promtool check rules")
def rules_check():
    r = run([args.promtool, "check", "rules", str(DEPLOY / "prometheus/parley-alerts.yml")])
    must(r.returncode == 0, r.stdout + r.stderr)


@check("alert rules: promtool test rules")
def rules_test():
    r = run([args.promtool, "test", "rules", "parley-alerts.test.yml"], cwd=DEPLOY / "prometheus/tests")
    must(r.returncode == 0, r.stdout + r.stderr)


@check("alert rules only use metrics parley exports (or up / kube-state-metrics)")
def rules_metrics():
    names, _, _ = exported_metrics_cached()
    rules = yaml.safe_load((DEPLOY / "prometheus/parley-alerts.yml").read_text())
    for g in rules["groups"]:
        for r in g["rules"]:
            for m in re.findall(r"\b((?:parley|process)_[a-z0-9_]+)\b", r["expr"]):
                base = re.sub(r"_(bucket|sum|count)$", "", m)
                must(m in names or base in names, f"{r['alert']} uses {m}, which parley does not export")


@check("compose Prometheus config: promtool check config")
def prometheus_config():
    with tempfile.TemporaryDirectory() as tmp:
        text = (DEPLOY / "compose/prometheus.yml").read_text()
        text = text.replace("/etc/prometheus/rules/parley-alerts.yml", str(DEPLOY / "prometheus/parley-alerts.yml"))
        Path(tmp, "prometheus.yml").write_text(text)
        r = run([args.promtool, "check", "config", str(Path(tmp, "prometheus.yml"))])
        must(r.returncode == 0, r.stdout + r.stderr)


# --- Containers ------------------------------------------------------------------


@check("compose file validates against the compose specification")
def compose_schema():
    f = DEPLOY / "compose/docker-compose.yml"
    r = run([args.check_jsonschema, "--builtin-schema", "vendor.compose-spec", str(f)])
    must(r.returncode == 0, r.stdout + r.stderr)
    c = yaml.safe_load(f.read_text())
    for svc, s in c["services"].items():
        for v in s.get("volumes", []):
            src = v.split(":", 1)[0]
            if src.startswith("."):
                must((f.parent / src).exists(), f"{svc}: volume source {src} does not exist")
        b = s.get("build")
        if b:
            ctx = f.parent / (b if isinstance(b, str) else b.get("context", "."))
            df = "Dockerfile" if isinstance(b, str) else b.get("dockerfile", "Dockerfile")
            must((ctx / df).is_file(), f"{svc}: no {ctx / df}")
    if run(["docker", "compose", "version"]).returncode == 0:
        r = run(["docker", "compose", "-f", str(f), "config", "-q"])
        must(r.returncode == 0, r.stderr)
    else:
        print("    docker compose is not installed here: schema check only")


@check("Dockerfiles pass hadolint")
def hadolint():
    files = [ROOT / "Dockerfile", DEPLOY / "compose/prosody/Dockerfile"]
    r = run([args.hadolint, "--failure-threshold", "warning", *map(str, files)])
    must(r.returncode == 0, r.stdout + r.stderr)


@check("the image's Dockerfile builds parley with --locked, runs it as a numeric non-root user")
def dockerfile_contract():
    text = (ROOT / "Dockerfile").read_text()
    must("cargo build --release --locked -p parley-gateway" in text, "release build with --locked")
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    must(users and re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", users[-1]), f"last USER must be numeric non-root, got {users}")
    for port in ("5060/udp", "5060/tcp", "5061/tcp", "9100/tcp"):
        must(re.search(rf"^EXPOSE .*\b{port}\b", text, re.M), f"EXPOSE {port}")
    ignore = (ROOT / ".dockerignore").read_text().split()
    must("target/" in ignore and ".git/" in ignore, ".dockerignore must exclude target/ and .git/")


@check("Prosody config of the compose trial: prosodyctl check config")
def prosody_config():
    if not shutil_which("prosodyctl"):
        print("    prosodyctl is not installed here: skipped")
        return
    r = run(["prosodyctl", "--config", str(DEPLOY / "compose/prosody/prosody.cfg.lua"), "check", "config"],
            timeout=60)
    must(r.returncode == 0, r.stdout + r.stderr)
    r = run(["sh", "-n", str(DEPLOY / "compose/prosody/entrypoint.sh")])
    must(r.returncode == 0, r.stderr)


def shutil_which(cmd):
    import shutil

    return shutil.which(cmd)


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--parley", required=True)
    ap.add_argument("--promtool", required=True)
    ap.add_argument("--kubernetes-validate", required=True)
    ap.add_argument("--check-jsonschema", required=True)
    ap.add_argument("--hadolint", required=True)
    args = ap.parse_args()
    passed = failed = 0
    for name, fn in results:
        t = time.monotonic()
        try:
            fn()
        except Fail as e:
            failed += 1
            print(f"FAIL {name}\n    " + str(e).replace("\n", "\n    "))
            continue
        except Exception:
            failed += 1
            print(f"FAIL {name}\n" + traceback.format_exc())
            continue
        passed += 1
        print(f"PASS {name} ({time.monotonic() - t:.1f} s)")
    print(f"deploy: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
