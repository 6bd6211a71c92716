"""Which files bpfbridge agrees to load (core/trust.c), whatever the uid: the
YAML, the object and the --btf file, and every directory from each up to /,
must be owned by root or the effective user and writable by no one else.
Each refusal is checked with its exact message, as root and as uid 65534
holding CAP_BPF and CAP_PERFMON (what a container runs with)."""
import os
import shutil
import subprocess
import tempfile

import pytest

from engine_helpers import copy_for_nobody

NOBODY = 65534
WHY = "loading BPF is root-equivalent"
# uid 65534 with exactly the capabilities the syscalls config needs (docs/containers.md)
AS_NOBODY = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
             "--inh-caps=-all,+bpf,+perfmon", "--ambient-caps=-all,+bpf,+perfmon", "--"]
USERS = {"root": [], "nobody": AS_NOBODY}


@pytest.fixture(scope="module")
def cli(build_dir, config_dir):
    """A copy of the CLI uid 65534 can run wherever the build tree is."""
    d = tempfile.mkdtemp(prefix="bbtrustcli.", dir="/tmp")
    yield copy_for_nobody(build_dir, config_dir, d)[0]
    shutil.rmtree(d)


@pytest.fixture
def base():
    # Not under pytest's tmp_path: that is 0700 root's, and uid 65534 must get in.
    d = tempfile.mkdtemp(prefix="bbtrust.", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d)


def install(config_dir, directory, owner=0):
    """The shipped syscalls config and object in DIRECTORY (made 0755), owned by OWNER."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name in ("syscalls.yaml", "syscalls.bpf.o"):
        dst = os.path.join(directory, name)
        shutil.copyfile(os.path.join(config_dir, name), dst)
        os.chmod(dst, 0o644)
        os.chown(dst, owner, owner)
        paths.append(dst)
    return paths


def opened_dirs(top, leaf):
    """Make every directory from TOP to LEAF 0755."""
    d = leaf
    while True:
        os.chmod(d, 0o755)
        if d == top:
            break
        d = os.path.dirname(d)


def check(cli, user, *args):
    return subprocess.run(USERS[user] + [cli, "check", *args], capture_output=True, text=True,
                          timeout=60)


def assert_refused(r, message):
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr == "bpfbridge check: " + message + "\n"


def other_uid(user):
    """A uid that is neither root nor the user running the check."""
    return NOBODY if user == "root" else 1234


def not_owner_words(user):
    return "not root" if user == "root" else "not root or uid %d" % NOBODY


@pytest.mark.parametrize("user", USERS)
def test_accepts_files_of_root_and_of_the_effective_user(cli, config_dir, base, user):
    d = os.path.join(base, "cfg")
    yaml, _ = install(config_dir, d, owner=0 if user == "root" else NOBODY)
    r = check(cli, user, yaml)
    assert r.returncode == 0, r.stderr
    assert "syscalls: 1 of 3 programs attached" in r.stdout


@pytest.mark.parametrize("user", USERS)
def test_refuses_a_world_writable_yaml(cli, config_dir, base, user):
    yaml, _ = install(config_dir, os.path.join(base, "cfg"))
    os.chmod(yaml, 0o646)
    assert_refused(check(cli, user, yaml), "%s: refusing to load: %s has mode 0646, writable by "
                   "others (%s; chmod go-w)" % (yaml, yaml, WHY))


@pytest.mark.parametrize("user", USERS)
def test_refuses_an_object_owned_by_another_user(cli, config_dir, base, user):
    yaml, obj = install(config_dir, os.path.join(base, "cfg"))
    os.chown(obj, other_uid(user), other_uid(user))
    assert_refused(check(cli, user, yaml), "%s: refusing to load: %s is owned by uid %d, %s (%s)"
                   % (obj, obj, other_uid(user), not_owner_words(user), WHY))


@pytest.mark.parametrize("user", USERS)
def test_refuses_a_writable_btf_file(cli, config_dir, base, user):
    yaml, _ = install(config_dir, os.path.join(base, "cfg"))
    btf = os.path.join(base, "vmlinux.btf")
    shutil.copyfile("/sys/kernel/btf/vmlinux", btf)
    os.chmod(btf, 0o664)
    assert_refused(check(cli, user, "--btf", btf, yaml), "%s: refusing to load: %s has mode "
                   "0664, writable by its group (%s; chmod go-w)" % (btf, btf, WHY))
    # the same file, once nobody else can write it, is what libbpf relocates against
    os.chmod(btf, 0o644)
    r = check(cli, user, "--btf", btf, yaml)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("user", USERS)
def test_refuses_a_writable_directory_two_levels_up(cli, config_dir, base, user):
    leaf = os.path.join(base, "a", "b")
    yaml, _ = install(config_dir, leaf)
    opened_dirs(base, leaf)
    os.chmod(os.path.join(base, "a"), 0o777)
    assert_refused(check(cli, user, yaml), "%s: refusing to load: %s has mode 0777, writable by "
                   "group and others (%s; chmod go-w)" % (yaml, os.path.join(base, "a"), WHY))
    # relative to a working directory below the open one: the walk still starts at /
    r = subprocess.run(USERS[user] + [cli, "check", "syscalls.yaml"], capture_output=True,
                       text=True, cwd=leaf, timeout=60)
    assert_refused(r, "syscalls.yaml: refusing to load: %s has mode 0777, writable by group and "
                   "others (%s; chmod go-w)" % (os.path.join(base, "a"), WHY))


@pytest.mark.parametrize("user", USERS)
def test_refuses_a_symlink_into_a_writable_directory(cli, config_dir, base, user):
    writable = os.path.join(base, "drop")
    install(config_dir, writable)
    os.chmod(writable, 0o777)
    safe = os.path.join(base, "etc")
    os.makedirs(safe)
    os.chmod(safe, 0o755)
    link = os.path.join(safe, "syscalls.yaml")
    os.symlink("../drop/syscalls.yaml", link)
    assert_refused(check(cli, user, link), "%s: refusing to load: %s (reached through the "
                   "symlink %s) has mode 0777, writable by group and others (%s; chmod go-w)"
                   % (link, writable, link, WHY))
    # a symlink into a directory nobody else can write is followed and accepted
    os.chmod(writable, 0o755)
    shutil.copyfile(os.path.join(config_dir, "syscalls.bpf.o"),
                    os.path.join(safe, "syscalls.bpf.o"))
    os.chmod(os.path.join(safe, "syscalls.bpf.o"), 0o644)
    r = check(cli, user, link)
    assert r.returncode == 0, r.stderr


def test_refuses_a_symlink_planted_by_another_user_in_a_sticky_directory(cli, config_dir, base):
    install(config_dir, os.path.join(base, "real"))
    sticky = os.path.join(base, "tmp")
    os.makedirs(sticky)
    os.chmod(sticky, 0o1777)
    link = os.path.join(sticky, "syscalls.yaml")
    os.symlink(os.path.join(base, "real", "syscalls.yaml"), link)
    os.lchown(link, NOBODY, NOBODY)
    assert_refused(check(cli, "root", link), "%s: refusing to load: %s is owned by uid %d, not "
                   "root (%s)" % (link, link, NOBODY, WHY))


def test_the_reported_hole_is_closed(cli, config_dir, base):
    """The issue's case: uid 65534 with CAP_BPF and CAP_PERFMON, a world-writable config
    owned by nobody in a world-writable directory. It used to load."""
    d = os.path.join(base, "open")
    yaml, obj = install(config_dir, d, owner=NOBODY)
    os.chmod(yaml, 0o666)
    os.chmod(d, 0o777)
    os.chown(d, NOBODY, NOBODY)
    assert_refused(check(cli, "nobody", yaml), "%s: refusing to load: %s has mode 0777, writable "
                   "by group and others (%s; chmod go-w)" % (yaml, d, WHY))


def test_a_missing_file_names_itself(cli, base):
    missing = os.path.join(base, "nope", "syscalls.yaml")
    assert_refused(check(cli, "root", missing), "%s: No such file or directory" % missing)
