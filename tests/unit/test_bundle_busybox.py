"""The busybox stand-in's recipe: upstream's config edits, its applet links, and its cache key."""

import dataclasses
import tarfile
from pathlib import Path

import pytest

from kubelab.bundle import busybox, images
from kubelab.errors import ArtifactError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bundle"
# `make defconfig` of busybox-1.37.0.tar.bz2, as captured.
DEFCONFIG = (FIXTURES / "busybox-1.37.0-defconfig").read_text()


def options(config):
    """Option -> value, "n" for `# X is not set`."""
    found = {}
    for line in config.splitlines():
        if line.startswith("CONFIG_"):
            name, value = line.split("=", 1)
            found[name] = value
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            found[line[2:].removesuffix(" is not set")] = "n"
    return found


def test_configure_applies_upstreams_edits_over_defconfig():
    before, after = options(DEFCONFIG), options(busybox.configure(DEFCONFIG))
    assert (before["CONFIG_STATIC"], after["CONFIG_STATIC"]) == ("n", "y")
    assert (before["CONFIG_LAST_SUPPORTED_WCHAR"], after["CONFIG_LAST_SUPPORTED_WCHAR"]) == ("767", "0")
    assert (before["CONFIG_FEATURE_SYNC_FANCY"], after["CONFIG_FEATURE_SYNC_FANCY"]) == ("y", "n")
    assert (before["CONFIG_FEATURE_AR_CREATE"], after["CONFIG_FEATURE_AR_CREATE"]) == ("n", "y")
    assert {k: after[k] for k in busybox.SET_CONFIG} == busybox.SET_CONFIG
    assert {k: v for k, v in after.items() if k not in busybox.SET_CONFIG and k not in busybox.UNSET_CONFIG} == {
        k: v for k, v in before.items() if k not in busybox.SET_CONFIG and k not in busybox.UNSET_CONFIG}


def test_defconfig_has_what_candidates_use_and_debians_config_lacked():
    after = options(busybox.configure(DEFCONFIG))
    for option in ("CONFIG_FEATURE_WGET_TIMEOUT", "CONFIG_FEATURE_WGET_LONG_OPTIONS", "CONFIG_NC_110_COMPAT",
                   "CONFIG_NSLOOKUP", "CONFIG_FEATURE_NSLOOKUP_BIG", "CONFIG_TOP", "CONFIG_PS"):
        assert after[option] == "y", option


def test_configure_of_nothing_still_asks_for_a_static_build():
    assert options(busybox.configure("")) == busybox.SET_CONFIG


def multicall(tmp_path, applets):
    tool = tmp_path / "busybox"
    tool.write_text(f"#!/bin/sh\necho '{' '.join(applets)}'\n")
    tool.chmod(0o755)
    return tool


def box_spec(tool):
    return images.ImageSpec("docker.io/library/busybox:1.37", ("ENV PATH=/bin",), files=(("bin/busybox", tool),),
                            applet_links="bin/busybox", links=(("usr/bin/env", "../../bin/env"),))


def test_every_applet_the_binary_lists_gets_a_link_in_bin(tmp_path):
    out = tmp_path / "rootfs.tar"
    images._compose_rootfs(box_spec(multicall(tmp_path, ["busybox", "sh", "wget", "nc"])), None, out)
    with tarfile.open(out) as tar:
        links = {m.name.removeprefix("./"): m.linkname for m in tar if m.issym()}
        assert tar.getmember("./bin/busybox").isreg()
    assert links == {"bin/sh": "busybox", "bin/wget": "busybox", "bin/nc": "busybox", "usr/bin/env": "../../bin/env"}


def test_a_changed_binary_or_layout_changes_the_image_key(tmp_path):
    tool = multicall(tmp_path, ["sh"])
    spec = box_spec(tool)
    key = images.image_key(spec, spec.changes, None)
    assert images.image_key(spec, spec.changes, None) == key
    assert images.image_key(dataclasses.replace(spec, applet_links=""), spec.changes, None) != key
    assert images.image_key(spec, (*spec.changes, "LABEL kubelab.stand-in=true"), None) != key
    tool.write_text(tool.read_text() + "# another build\n")
    assert images.image_key(spec, spec.changes, None) != key


def test_the_busybox_stand_in_names_the_compiled_binary_and_its_source():
    (nginx, nginx_next, box) = images.exercise_image_specs()
    # nginx:1.28 is nginx:1.27's recipe under its own reference (so another image ID), for rolling updates.
    assert dataclasses.replace(nginx_next, ref=nginx.ref) == nginx and nginx_next.ref.endswith(":1.28")
    assert dict(box.files) == {"bin/busybox": busybox.binary()}
    assert box.applet_links == "bin/busybox"
    assert "busybox 1.37.0 source (sha256 3311dff32e74)" in box.stand_in_from
    assert "curl" in nginx.base_packages


def test_a_source_tarball_with_another_sha256_is_refused_before_building(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBELAB_CACHE", str(tmp_path / "cache"))
    impostor = tmp_path / "busybox-1.37.0.tar.bz2"
    impostor.write_bytes(b"not busybox")
    monkeypatch.setattr(busybox, "BUSYBOX_SOURCE_URL", impostor.as_uri())
    with pytest.raises(ArtifactError, match=r"has sha256 [0-9a-f]{64}, not busybox.net's 3311dff3.*refusing"):
        busybox.build()
    assert not (busybox.build_root() / "built.json").exists()
    assert not busybox.binary().exists()
    assert not list(busybox.build_root().glob("*.tar.bz2"))
