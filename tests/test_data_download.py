"""Downloads against a tiny local HTTP server (127.0.0.1, a thread): progress, resume with an HTTP
Range request into the `.part` file, checksum verification, and files that must be placed by hand."""

from __future__ import annotations

import hashlib
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dra.cli import main
from dra.data.download import RawFile, download_url, fetch, fetch_dataset, files_of
from dra.data.registry import DATASETS
from dra.errors import DraError

PAYLOAD = os.urandom(300_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Server:
    """Serves PAYLOAD at /file; options: honour Range or not, drop the connection after N bytes once."""

    def __init__(self):
        self.honour_range = True
        self.drop_after: int | None = None
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                if self.path != "/file":
                    self.send_error(404, "Not Found")
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and server.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(PAYLOAD):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
                else:
                    self.send_response(200)
                body = PAYLOAD[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.drop_after is not None:
                    n, server.drop_after = server.drop_after, None
                    self.wfile.write(body[:n])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with Server() as s:
        yield s


def test_download_with_checksum_and_progress(server, tmp_path, capsys):
    dest = download_url(server.url + "/file", tmp_path / "a.zip", SHA)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "a.zip.part").exists()
    err = capsys.readouterr().err
    assert "a.zip:" in err and "100.0%" in err and "done" in err


def test_resume_from_a_part_file(server, tmp_path):
    (tmp_path / "a.zip.part").write_bytes(PAYLOAD[:123_456])
    dest = download_url(server.url + "/file", tmp_path / "a.zip", SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[-1]["range"] == "bytes=123456-"


def test_resume_after_a_dropped_connection(server, tmp_path):
    server.drop_after = 100_000
    dest = download_url(server.url + "/file", tmp_path / "a.zip", SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == [None, "bytes=100000-"]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.honour_range = False
    (tmp_path / "a.zip.part").write_bytes(b"garbage" * 1000)
    dest = download_url(server.url + "/file", tmp_path / "a.zip", SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_is_verified_and_kept(server, tmp_path):
    (tmp_path / "a.zip.part").write_bytes(PAYLOAD)
    dest = download_url(server.url + "/file", tmp_path / "a.zip", SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_is_an_error_and_leaves_nothing(server, tmp_path):
    with pytest.raises(DraError, match=f"SHA-256 {SHA} does not match the pinned {'0' * 64}"):
        download_url(server.url + "/file", tmp_path / "a.zip", "0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_fetch_keeps_a_correct_file_and_rejects_a_wrong_one(server, tmp_path):
    f = RawFile("a.zip", server.url + "/file", SHA)
    (tmp_path / "a.zip").write_bytes(PAYLOAD)
    assert fetch("x", f, tmp_path) == tmp_path / "a.zip"
    assert server.requests == []  # nothing downloaded
    (tmp_path / "a.zip").write_bytes(b"a user's different version")
    with pytest.raises(DraError, match=r"a.zip: SHA-256 .* does not match the pinned .*already present"):
        fetch("x", f, tmp_path)


def test_dead_link_says_where_to_put_the_file(server, tmp_path):
    f = RawFile("mvtec.tar.xz", server.url + "/moved", SHA)
    with pytest.raises(DraError) as e:
        fetch("mvtecad", f, tmp_path / "raw", homepage="https://example.invalid/mvtec")
    msg = str(e.value)
    assert "HTTP 404" in msg and "link may have moved" in msg
    assert f"put it at {tmp_path / 'raw' / 'mvtec.tar.xz'}" in msg and SHA in msg


def test_manual_file_says_which_file_where_and_how_checked(tmp_path):
    f = RawFile("brain.zip", None, None, note="from https://example.invalid/kaggle (account needed)")
    with pytest.raises(DraError) as e:
        fetch("brainmri", f, tmp_path)
    msg = str(e.value)
    assert "needs an account or a request" in msg
    assert f"get brain.zip by hand from https://example.invalid/kaggle (account needed) and put it at {tmp_path / 'brain.zip'}" in msg
    assert "no checksum is pinned" in msg and f"{tmp_path / 'extracted'}/" in msg


def test_unreachable_server(tmp_path):
    with pytest.raises(DraError, match="could not download http://127.0.0.1:9/x"):
        download_url("http://127.0.0.1:9/x", tmp_path / "x", attempts=1, progress=False, timeout=2)


def test_every_real_dataset_declares_its_files():
    pinned = {"mvtecad": "cf4313b1", "sdd": "65dc6216", "elpv": "85e31c11"}
    for name in DATASETS:
        files = files_of(name)
        if name == "demo":
            assert files == ()
            continue
        assert files, name
        for f in files:
            assert f.url is None or f.url.startswith("https://"), (name, f)
            assert f.url or f.note, (name, f)  # a manual file says where to get it
        if name in pinned:
            assert files[0].sha256.startswith(pinned[name])
    for name in ("brainmri", "headct", "lag"):
        assert all(f.url is None for f in files_of(name))


def test_download_stage_against_the_local_server(server, tmp_path, monkeypatch, capsys):
    from dra.data import mastcam

    monkeypatch.setattr(mastcam, "FILES", (RawFile("train_typical.zip", server.url + "/file", SHA),
                                           RawFile("test_typical.zip", server.url + "/file", SHA)))
    assert main(["download", "mastcam", "--out", str(tmp_path), "--no-progress"]) == 0
    assert (tmp_path / "train_typical.zip").read_bytes() == PAYLOAD
    assert "ok " in capsys.readouterr().out
    assert main(["download", "mastcam", "--out", str(tmp_path), "--file", "nope.zip"]) == 1
    assert "no raw file named 'nope.zip'" in capsys.readouterr().err


def test_fetch_dataset_lists_every_missing_manual_file(tmp_path, monkeypatch):
    from dra.data import lag

    monkeypatch.setattr(lag, "FILES", (RawFile("a.zip", None, None, note="from A"),
                                       RawFile("b.zip", None, "ab" * 32, note="from B")))
    with pytest.raises(DraError) as e:
        fetch_dataset("lag", tmp_path)
    assert "a.zip by hand from A" in str(e.value) and "b.zip by hand from B" in str(e.value)
    assert f"checked against SHA-256 {'ab' * 32}" in str(e.value)
