"""The exercise stand-ins, run for real: each tool a CKAD task uses behaves as in the upstream image.

Every container runs under podman with runc from the bundle's own image tars:
an nginx target with a packet-dropping port (the effect of a NetworkPolicy),
the bundle's CoreDNS answering cluster names, and a busybox "pod" with a
pod's resolv.conf (search list, ndots:5) that the tools run in. A crash
(exit 139, as Debian's busybox-static gave for `wget -T`) fails any test.
"""

import os
import subprocess
import time

import pytest

from kubelab import versions

pytestmark = pytest.mark.integration

BUSYBOX, NGINX = "docker.io/library/busybox:1.37", "docker.io/library/nginx:1.27"
COREDNS = versions.release(versions.DEFAULT_MINOR).images()["coredns"]
KUBE_PROXY = versions.release(versions.DEFAULT_MINOR).images()["kube-proxy"]
# crun fails on this host's cgroups and the default nofile limit is refused (machine-facts.md).
RUN = ("--runtime", "runc", "run", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096")
DROPPED_PORT = 8080  # nothing listens there and every packet to it is dropped, as a NetworkPolicy does
KUBERNETES_SERVICE_IP = "10.96.0.1"
SEARCH = ("default.svc.cluster.local", "svc.cluster.local", "cluster.local")
PREFIX = f"kubelab-standin-{os.getpid()}"


def podman(*args, timeout=120):
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"podman {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def run_in(container, *argv, timeout=30):
    """Exec `argv` in the container: exit code, stdout, stderr and seconds taken; a crash fails the test."""
    start = time.monotonic()
    proc = subprocess.run(["podman", "exec", container, *argv], capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - start
    assert proc.returncode != 139, f"{' '.join(argv)} crashed (SIGSEGV) in {container}: {proc.stderr}"
    return proc.returncode, proc.stdout, proc.stderr, seconds


def ip_of(container):
    return podman("inspect", container, "--format", "{{.NetworkSettings.IPAddress}}").strip()


@pytest.fixture(scope="module")
def containers(bundle):
    """Load the images from the bundle; start(name, ...) runs a detached container, all removed afterwards."""
    from kubelab.bundle.manifest import load_manifest

    manifest = load_manifest(bundle)
    for ref in (BUSYBOX, NGINX, COREDNS, KUBE_PROXY):
        podman("load", "-i", str(bundle / manifest.images[ref].file))
    started = []

    def start(name, *args):
        started.append(f"{PREFIX}-{name}")
        podman(*RUN, "-d", "--name", f"{PREFIX}-{name}", *args)
        return f"{PREFIX}-{name}"

    yield start
    for name in started:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, timeout=60)
    for ref in (BUSYBOX, NGINX, COREDNS, KUBE_PROXY):
        subprocess.run(["podman", "rmi", ref], capture_output=True, timeout=60)


def wait_for(check, what, seconds=20):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def web(containers):
    """The nginx stand-in as the upstream entrypoint runs it, its port 8080 dropped by iptables in its netns."""
    name = containers("web", NGINX)
    # The kube-proxy image brings iptables; sharing web's network namespace, it fences that port.
    podman(*RUN, "--rm", "--network", f"container:{name}", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW",
           KUBE_PROXY, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", str(DROPPED_PORT), "-j", "DROP")
    wait_for(lambda: run_in(name, "curl", "-sS", "-m", "2", "-o", "/dev/null", "http://localhost/")[0] == 0,
             "nginx answers on port 80")
    return name


@pytest.fixture(scope="module")
def dns(containers, web, tmp_path_factory):
    """The bundle's CoreDNS serving the kubernetes Service's and web's cluster names, NXDOMAIN for others."""
    names = {"kubernetes.default.svc.cluster.local": KUBERNETES_SERVICE_IP,
             "web.default.svc.cluster.local": ip_of(web)}
    corefile = tmp_path_factory.mktemp("coredns") / "Corefile"
    corefile.write_text(" ".join(f"{n}:53" for n in names) + " {\n    hosts {\n"
                        + "".join(f"        {ip} {n}\n" for n, ip in names.items())
                        + "    }\n}\ncluster.local:53 {\n    template ANY ANY {\n        rcode NXDOMAIN\n    }\n}\n")
    name = containers("dns", "-v", f"{corefile}:/etc/coredns/Corefile:ro", COREDNS, "-conf", "/etc/coredns/Corefile")
    return ip_of(name)


@pytest.fixture(scope="module")
def pod(containers, dns):
    """A busybox container with a pod's resolv.conf, running `sleep` as its only process."""
    search = [arg for domain in SEARCH for arg in ("--dns-search", domain)]
    name = containers("pod", "--dns", dns, *search, "--dns-option", "ndots:5", BUSYBOX, "sleep", "3600")
    wait_for(lambda: run_in(name, "nslookup", "kubernetes.default.svc.cluster.local")[0] == 0, "CoreDNS answers")
    return name


def test_wget_with_a_timeout_fetches_the_page(pod, web):
    rc, out, err, _ = run_in(pod, "wget", "-T", "3", "-qO-", f"http://{ip_of(web)}/")
    assert (rc, "Welcome to nginx" in out) == (0, True), err


def test_wget_with_a_timeout_gives_up_on_a_dropped_port_in_time(pod, web):
    rc, _, err, seconds = run_in(pod, "wget", "-T", "3", "-qO-", f"http://{ip_of(web)}:{DROPPED_PORT}/")
    assert rc == 1
    assert "timed out" in err
    assert 2.5 <= seconds <= 8


def test_wget_spider_reports_whether_the_page_exists(pod, web):
    assert run_in(pod, "wget", "--spider", "-T", "3", f"http://{ip_of(web)}/")[0] == 0
    rc, _, err, _ = run_in(pod, "wget", "--spider", "-T", "3", f"http://{ip_of(web)}/missing")
    assert (rc, "404" in err) == (1, True)


def test_wget_reaches_a_service_by_its_short_name_through_the_search_list(pod):
    rc, out, err, _ = run_in(pod, "wget", "-T", "3", "-qO-", "http://web/")
    assert (rc, "Welcome to nginx" in out) == (0, True), err


def test_nc_z_tells_an_open_port_from_a_dropped_and_a_closed_one(pod, web):
    ip = ip_of(web)
    assert run_in(pod, "nc", "-z", "-w", "2", ip, "80")[0] == 0
    rc, _, _, seconds = run_in(pod, "nc", "-z", "-w", "2", ip, str(DROPPED_PORT))
    assert rc == 1
    assert 1.5 <= seconds <= 6
    rc, _, _, seconds = run_in(pod, "nc", "-z", "-w", "2", ip, "81")
    assert (rc, seconds < 1.5) == (1, True)


def test_nc_carries_a_request_and_its_answer(pod, web):
    rc, out, err, _ = run_in(pod, "sh", "-c", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc {ip_of(web)} 80")
    assert rc == 0, err
    assert out.startswith("HTTP/1.1 200 OK")


def test_nslookup_resolves_a_full_service_name(pod, dns):
    rc, out, err, _ = run_in(pod, "nslookup", "kubernetes.default.svc.cluster.local")
    assert rc == 0, out + err
    assert f"Server:\t\t{dns}" in out
    assert f"Name:\tkubernetes.default.svc.cluster.local\nAddress: {KUBERNETES_SERVICE_IP}" in out


def test_nslookup_of_an_unknown_name_fails(pod):
    rc, out, err, _ = run_in(pod, "nslookup", "nothing.default.svc.cluster.local")
    assert (rc, "NXDOMAIN" in out) == (1, True), out + err


SHELL_TOOLS = {
    "sh": (("sh", "-c", "echo $((6 * 7))"), lambda out, c: out == "42\n"),
    "echo": (("echo", "hello", "world"), lambda out, c: out == "hello world\n"),
    "date": (("date", "-u", "+%Y"), lambda out, c: out == time.strftime("%Y\n", time.gmtime())),
    "env": (("env",), lambda out, c: "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" in out),
    "cat": (("cat", "/etc/passwd"), lambda out, c: out.startswith("root:x:0:0:root:/root:")),
    "hostname": (("hostname",), lambda out, c: out.strip() == podman("inspect", c, "--format",
                                                                     "{{.Config.Hostname}}").strip()),
    "id": (("id",), lambda out, c: out.startswith("uid=0(root) gid=0(root)")),
    "ls": (("ls", "/usr/bin/env", "/bin/wget", "/bin/nslookup"),
           lambda out, c: out.split() == ["/bin/nslookup", "/bin/wget", "/usr/bin/env"]),
    "usr-bin-env": (("/usr/bin/env", "sh", "-c", "echo via-env"), lambda out, c: out == "via-env\n"),
}


@pytest.mark.parametrize("tool", sorted(SHELL_TOOLS))
def test_busybox_shell_tools(pod, tool):
    argv, good = SHELL_TOOLS[tool]
    rc, out, err, _ = run_in(pod, *argv)
    assert rc == 0, err
    assert good(out, pod), out


def test_busybox_sleep_sleeps_and_ps_and_top_see_it(pod):
    rc, _, _, seconds = run_in(pod, "sleep", "1")
    assert (rc, 1 <= seconds < 4) == (0, True)
    rc, out, _, _ = run_in(pod, "ps")
    assert rc == 0
    assert out.splitlines()[0].split() == ["PID", "USER", "TIME", "COMMAND"]
    assert any(line.split()[0] == "1" and line.endswith("sleep 3600") for line in out.splitlines()[1:])
    rc, out, _, _ = run_in(pod, "top", "-b", "-n1")
    assert rc == 0
    assert out.startswith("Mem:") and "sleep 3600" in out


def test_nginx_has_curl_and_its_timeout(web):
    rc, out, err, _ = run_in(web, "curl", "-sS", "-m", "3", "http://localhost/")
    assert (rc, "Welcome to nginx" in out) == (0, True), err
    rc, _, _, seconds = run_in(web, "curl", "-sS", "-m", "2", f"http://localhost:{DROPPED_PORT}/")
    assert rc == 28  # curl's "operation timed out"
    assert 1.5 <= seconds <= 6


def test_nginx_logs_requests_to_the_container_output(web):
    run_in(web, "curl", "-sS", "-m", "3", "-o", "/dev/null", "http://localhost/logged")
    wait_for(lambda: '"GET /logged HTTP/1.1" 404' in podman("logs", web), "the request in `podman logs`")


def test_nginx_writes_its_access_log_into_a_volume_over_the_log_directory(containers, tmp_path):
    # The sidecar exercise: an emptyDir (an empty host directory, not
    # copied up from the image) over /var/log/nginx hides the links to stdout.
    name = containers("logvol", "-v", f"{tmp_path}:/var/log/nginx", NGINX, "nginx", "-g", "daemon off;")
    wait_for(lambda: run_in(name, "curl", "-sS", "-m", "2", "-o", "/dev/null", "http://localhost/")[0] == 0,
             "nginx answers")
    access_log = tmp_path / "access.log"
    assert not access_log.is_symlink()
    wait_for(lambda: '"GET / HTTP/1.1" 200' in access_log.read_text(), "the request in the volume's access.log")


def test_a_site_mounted_over_conf_d_replaces_the_default_one(containers, tmp_path):
    site = tmp_path / "default.conf"
    site.write_text("server {\n    listen 8081;\n    location / { return 200 'from-configmap\\n'; }\n}\n")
    name = containers("confd", "-v", f"{site}:/etc/nginx/conf.d/default.conf:ro", NGINX)
    wait_for(lambda: run_in(name, "curl", "-sS", "-m", "2", "http://localhost:8081/")[1] == "from-configmap\n",
             "the mounted site answers on 8081")
    assert run_in(name, "curl", "-sS", "-m", "2", "http://localhost:80/")[0] == 7  # refused: nothing on 80


@pytest.mark.parametrize("tool", ["sh", "echo", "date", "env", "cat", "hostname", "id"])
def test_nginx_shell_tools(web, tool):
    argv, good = SHELL_TOOLS[tool]
    rc, out, err, _ = run_in(web, *argv)
    assert rc == 0, err
    assert good(out, web), out
