"""A libtorrent reference peer for shardtorrent's interop harness.

Embedded in the Go package internal/refpeer and written to a temporary
directory at run time. It must run under /usr/bin/python3 (Debian's
python3-libtorrent, libtorrent 2.0.x).

Modes:
  seed   check the data under --save (unless --seed-mode), print
         {"event":"ready"} once seeding, then seed until SIGTERM / stdin EOF.
  leech  download into --save, print {"event":"finished",...} when complete
         and exit 0 (unless --stay). --torrent may be repeated: every torrent
         is added to the one session, the status line then sums them and
         lists each under "torrents", and "finished" waits for all. With --magnet URI instead of --torrent
         the metadata is fetched from the peers first (ut_metadata); a
         {"event":"metadata"} line says when it arrived.
  make   create a v1-only .torrent from --path (no pad files).

stdout carries only JSON lines: one status line per second plus events.
Diagnostics go to stderr. Fatal errors exit non-zero.

The process exits on SIGTERM/SIGINT and when stdin reaches EOF (the Go
harness holds a pipe to stdin, so a dying test never leaks this process).
Pass --ignore-stdin when running it by hand with stdin at /dev/null.
"""

import argparse
import faulthandler
import json
import os
import signal
import sys
import threading
import time

try:
    import libtorrent as lt
except ImportError as e:  # pragma: no cover - reported to the Go side
    sys.stderr.write("lt_peer: cannot import libtorrent: %s (run under /usr/bin/python3)\n" % e)
    sys.exit(3)

STATE_NAMES = {
    lt.torrent_status.states.checking_files: "checking_files",
    lt.torrent_status.states.downloading_metadata: "downloading_metadata",
    lt.torrent_status.states.downloading: "downloading",
    lt.torrent_status.states.finished: "finished",
    lt.torrent_status.states.seeding: "seeding",
    lt.torrent_status.states.checking_resume_data: "checking_resume_data",
}

stop = threading.Event()
start_time = time.monotonic()


def log(msg):
    sys.stderr.write("lt_peer[%d]: %s\n" % (os.getpid(), msg))
    sys.stderr.flush()


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def fatal(msg, code=2):
    log("fatal: " + msg)
    hard_exit(code)


def hard_exit(code):
    """Exit now with code, without interpreter finalisation.

    sys.exit inside run_peer would unwind with the libtorrent session still
    alive and leave its destruction to the interpreter's shutdown, in no
    particular order with the bindings' own state, and a crash there would
    turn a fatal error's exit status 2 into a signal that hides the message
    above. The files need no flushing: the leecher's data is in the page
    cache through libtorrent's shared mappings.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def parse_peer(s):
    host, sep, port = s.rpartition(":")
    if not sep or not host:
        fatal("bad --peer %r, want HOST:PORT" % s)
    host = host.strip("[]")
    try:
        return (host, int(port))
    except ValueError:
        fatal("bad --peer %r, want HOST:PORT" % s)


def make_torrent(a):
    if not a.path or not a.out:
        fatal("--mode make needs --path and --out")
    path = os.path.abspath(a.path)
    if not os.path.exists(path):
        fatal("no such path: %s" % path)
    fs = lt.file_storage()
    lt.add_files(fs, path)
    if fs.num_files() == 0:
        fatal("no files under %s" % path)
    # libtorrent 2.0 creates hybrid v1+v2 torrents (with BEP 47 pad files)
    # by default; the harness wants plain v1 torrents.
    flags = lt.create_torrent.v1_only
    ct = lt.create_torrent(fs, a.piece_size, flags=flags)
    for url in a.tracker or []:
        ct.add_tracker(url)
    ct.set_creator("shardtorrent-refpeer (libtorrent %s)" % lt.__version__)
    lt.set_piece_hashes(ct, os.path.dirname(path))
    data = lt.bencode(ct.generate())
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, a.out)
    ti = lt.torrent_info(a.out)
    emit({
        "event": "made",
        "name": ti.name(),
        "info_hash": str(ti.info_hashes().v1),
        "num_files": ti.num_files(),
        "num_pieces": ti.num_pieces(),
        "piece_size": ti.piece_length(),
        "total_size": ti.total_size(),
    })


def session_settings(a):
    s = {
        "listen_interfaces": "127.0.0.1:%d" % a.listen,
        "listen_system_port_fallback": False,
        # Listen on --listen or fail: by default libtorrent tries the next
        # 10 ports, and the Go side (LTPeer.Addr) would then dial a port
        # that is not ours, perhaps another process's.
        "max_retry_port_bind": 0,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_tcp": True,
        "enable_incoming_tcp": True,
        "allow_multiple_connections_per_ip": True,
        "upload_rate_limit": a.upload_rate_limit,
        "download_rate_limit": 0,
        "anonymous_mode": False,
        "announce_to_all_trackers": True,
        "alert_mask": int(
            lt.alert_category.error
            | lt.alert_category.status
            | lt.alert_category.storage
            | lt.alert_category.performance_warning
        ),
    }
    if a.perf:
        s.update(lt.high_performance_seed())
    for kv in a.set or []:
        k, sep, v = kv.partition("=")
        if not sep:
            fatal("bad --set %r, want NAME=VALUE" % kv)
        if v in ("true", "false"):
            s[k] = v == "true"
        else:
            try:
                s[k] = int(v)
            except ValueError:
                s[k] = v
    if a.dht:
        # A DHT on 127.0.0.1 (see testing-with-real-peers.md): no routers,
        # loopback nodes accepted, many nodes per IP.
        s.update({
            "enable_dht": True,
            "dht_bootstrap_nodes": "",
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "dht_enforce_node_id": False,
            "dht_ignore_dark_internet": False,
            "dht_prefer_verified_node_ids": False,
            "dht_block_ratelimit": 1000,
        })
        s["alert_mask"] = s["alert_mask"] | int(lt.alert_category.dht | lt.alert_category.dht_operation)
    # encryption (BEP-less MSE/PE): policy 0=forced 1=enabled 2=disabled
    if a.encryption == "disabled":
        pol, lvl = lt.enc_policy.disabled, lt.enc_level.both
    elif a.encryption == "enabled":
        pol, lvl = lt.enc_policy.enabled, lt.enc_level.both
    else:  # forced
        pol, lvl = lt.enc_policy.forced, lt.enc_level.both
    if a.enc_level == "plaintext":
        lvl = lt.enc_level.plaintext
    elif a.enc_level == "rc4":
        lvl = lt.enc_level.rc4
    s["out_enc_policy"] = int(pol)
    s["in_enc_policy"] = int(pol)
    s["allowed_enc_level"] = int(lvl)
    s["prefer_rc4"] = a.enc_level == "rc4"
    return s


def status_obj(st):
    return {
        "state": STATE_NAMES.get(st.state, str(st.state)),
        "progress": round(st.progress, 6),
        # payload (piece data) rates and totals, bytes and bytes/s
        "download_rate": st.download_payload_rate,
        "upload_rate": st.upload_payload_rate,
        "total_download": st.total_payload_download,
        "total_upload": st.total_payload_upload,
        "total_done": st.total_done,
        "num_peers": st.num_peers,
        "elapsed": round(time.monotonic() - start_time, 3),
    }


def multi_status_obj(sts):
    """One status line for several torrents: totals summed, each listed."""
    o = {
        "state": "multi",
        "progress": round(sum(s.progress for s in sts) / len(sts), 6),
        "download_rate": sum(s.download_payload_rate for s in sts),
        "upload_rate": sum(s.upload_payload_rate for s in sts),
        "total_download": sum(s.total_payload_download for s in sts),
        "total_upload": sum(s.total_payload_upload for s in sts),
        "total_done": sum(s.total_done for s in sts),
        "num_peers": sum(s.num_peers for s in sts),
        "elapsed": round(time.monotonic() - start_time, 3),
    }
    o["torrents"] = [{
        "progress": round(s.progress, 6),
        "total_download": s.total_payload_download,
        "total_upload": s.total_payload_upload,
        "num_peers": s.num_peers,
    } for s in sts]
    return o


def watch_stdin():
    # os.read on the raw fd: a daemon thread blocked in sys.stdin's buffered
    # reader aborts the interpreter at shutdown.
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    stop.set()


def run_peer(a):
    if not (a.torrent or a.magnet) or not a.save:
        fatal("--mode %s needs --torrent (or --magnet) and --save" % a.mode)
    if a.magnet and a.mode != "leech":
        fatal("--magnet only makes sense with --mode leech")
    torrents = a.torrent or []
    if len(torrents) > 1 and (a.mode != "leech" or a.magnet):
        fatal("several --torrent only with --mode leech")
    if a.listen <= 0:
        fatal("--listen PORT is required")
    ti = None
    if a.magnet:
        try:
            atp = lt.parse_magnet_uri(a.magnet)
        except RuntimeError as e:
            fatal("cannot parse magnet %s: %s" % (a.magnet, e))
    else:
        try:
            ti = lt.torrent_info(torrents[0])
        except RuntimeError as e:
            fatal("cannot load torrent %s: %s" % (torrents[0], e))
        atp = lt.add_torrent_params()
        atp.ti = ti
    peers = [parse_peer(p) for p in (a.peer or [])]

    ses = lt.session(session_settings(a))
    if a.upload_rate_limit > 0:
        # upload_rate_limit binds the global peer class only; loopback
        # peers are in the local class, which has no limit by default.
        # set_peer_class takes the whole class (missing keys are reset).
        pc = ses.get_peer_class(lt.session.local_peer_class_id)
        pc["upload_limit"] = a.upload_rate_limit
        ses.set_peer_class(lt.session.local_peer_class_id, pc)

    atp.save_path = os.path.abspath(a.save)
    atp.storage_mode = lt.storage_mode_t.storage_mode_sparse
    flags = atp.flags
    flags &= ~lt.torrent_flags.auto_managed
    flags &= ~lt.torrent_flags.paused
    flags |= lt.torrent_flags.disable_lsd
    if not a.dht:
        flags |= lt.torrent_flags.disable_dht
    if a.seed_mode:
        if a.mode != "seed":
            fatal("--seed-mode only makes sense with --mode seed")
        flags |= lt.torrent_flags.seed_mode
    atp.flags = flags
    h = ses.add_torrent(atp)
    handles = [h]
    for path in torrents[1:]:
        try:
            more = lt.add_torrent_params()
            more.ti = lt.torrent_info(path)
        except RuntimeError as e:
            fatal("cannot load torrent %s: %s" % (path, e))
        more.save_path, more.storage_mode, more.flags = atp.save_path, atp.storage_mode, flags
        handles.append(ses.add_torrent(more))
    for n in a.dht_node or []:
        ses.add_dht_node(parse_peer(n))
    sample_to = parse_peer(a.dht_sample) if a.dht_sample else None
    sample_sent = 0.0

    ready_sent = False
    finished_sent = False
    listening = False
    last_print = 0.0
    last_connect = 0.0
    exit_code = 0

    while not stop.is_set():
        ses.wait_for_alert(100)
        for al in ses.pop_alerts():
            if isinstance(al, lt.listen_succeeded_alert):
                listening = True
                log("listening: %s" % al.message())
            elif isinstance(al, lt.listen_failed_alert):
                fatal("listen failed: %s" % al.message())
            elif isinstance(al, (lt.torrent_error_alert, lt.file_error_alert)):
                fatal("torrent error: %s" % al.message())
            elif isinstance(al, lt.metadata_received_alert):
                emit({"event": "metadata"})
            elif isinstance(al, lt.metadata_failed_alert):
                log("metadata failed: %s" % al.message())
            elif isinstance(al, lt.dht_sample_infohashes_alert) and sample_to:
                # libtorrent's only direct-to-a-node custom query in the
                # Debian bindings (no dht_direct_request): BEP 51.
                if al.endpoint[1] == sample_to[1]:
                    def val(v):
                        return v() if callable(v) else v
                    emit({"event": "dht_sample", "samples": [str(x) for x in val(al.samples)],
                          "num_samples": val(al.num_samples), "num_nodes": val(al.num_nodes)})
                    sample_to = None
            elif isinstance(al, lt.dht_announce_alert):
                emit({"event": "dht_announce", "info_hash": str(al.info_hash), "port": al.port})
            elif isinstance(al, lt.performance_alert):
                log("performance warning: %s" % al.message())
            elif al.category() & lt.alert_category.error:
                log("error: %s" % al.message())
        sts = [x.status() for x in handles]
        st = sts[0]
        checking = any(s.state in (
            lt.torrent_status.states.checking_files,
            lt.torrent_status.states.checking_resume_data,
        ) for s in sts)
        now = time.monotonic()
        if sample_to and now - sample_sent >= 1.0:
            sample_sent = now
            ses.dht_sample_infohashes(sample_to, lt.sha1_hash(bytes(20)))
        # (Re)connect the configured peers until we have connections. The
        # remote may not listen yet (peers are started in any order), and
        # libtorrent drops peers from its list after failed attempts.
        if peers and not checking and now - last_connect >= 1.0:
            last_connect = now
            for x, s in zip(handles, sts):
                if s.num_peers >= len(peers) or (a.mode == "leech" and s.is_seeding):
                    continue
                for p in peers:
                    try:
                        x.connect_peer(p)
                    except RuntimeError as e:
                        log("connect_peer %s:%d: %s" % (p[0], p[1], e))
        if a.mode == "seed" and not ready_sent and not checking:
            if st.is_seeding:
                ready_sent = True
                o = status_obj(st)
                o["event"] = "ready"
                o["listening"] = listening
                emit(o)
            elif st.state == lt.torrent_status.states.downloading:
                fatal("seed data incomplete after check: progress %.6f (%d of %d bytes)"
                      % (st.progress, st.total_done, ti.total_size()))
        if a.mode == "leech" and not finished_sent and not checking and all(
                s.is_finished or s.is_seeding for s in sts):
            finished_sent = True
            o = status_obj(st) if len(sts) == 1 else multi_status_obj(sts)
            o["event"] = "finished"
            emit(o)
            if not a.stay:
                break
        if now - last_print >= a.interval:
            last_print = now
            emit(status_obj(st) if len(sts) == 1 else multi_status_obj(sts))

    # Flush and close files before exiting so the Go side can hash the data
    # as soon as the process is gone.
    ses.pause()
    for x in handles:
        ses.remove_torrent(x)
    deadline = time.monotonic() + 10
    removed = 0
    while time.monotonic() < deadline and removed < len(handles):
        ses.wait_for_alert(100)
        for al in ses.pop_alerts():
            if isinstance(al, lt.torrent_removed_alert):
                removed += 1
    # No alert object may outlive the session: they point into its alert
    # storage.
    al = None  # noqa: F841
    del h, handles
    del ses
    return exit_code


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", required=True, choices=["seed", "leech", "make"])
    ap.add_argument("--torrent", action="append", help="repeatable in leech mode: one session, many torrents")
    ap.add_argument("--magnet", help="leech: a magnet URI instead of --torrent")
    ap.add_argument("--save")
    ap.add_argument("--listen", type=int, default=0)
    ap.add_argument("--peer", action="append", help="HOST:PORT, repeatable")
    ap.add_argument("--encryption", default="enabled", choices=["disabled", "enabled", "forced"])
    ap.add_argument("--enc-level", default="both", choices=["plaintext", "rc4", "both"])
    ap.add_argument("--perf", action="store_true", help="apply lt.high_performance_seed()")
    ap.add_argument("--seed-mode", action="store_true", help="seed without checking the data")
    ap.add_argument("--stay", action="store_true", help="leech: keep seeding after completion")
    ap.add_argument("--upload-rate-limit", type=int, default=0,
                    help="session upload_rate_limit, bytes/s (0 = unlimited)")
    ap.add_argument("--set", action="append", help="NAME=VALUE: a settings_pack entry, applied last; repeatable")
    ap.add_argument("--interval", type=float, default=1.0, help="status line interval, seconds")
    ap.add_argument("--ignore-stdin", action="store_true", help="do not exit on stdin EOF")
    ap.add_argument("--dht", action="store_true", help="run the DHT (loopback settings, no routers)")
    ap.add_argument("--dht-node", action="append", help="with --dht: HOST:PORT added with add_dht_node, repeatable")
    ap.add_argument("--dht-sample", help="with --dht: send sample_infohashes to HOST:PORT (each second until it "
                    "answers) and print its reply as a dht_sample event")
    # make mode
    ap.add_argument("--path")
    ap.add_argument("--out")
    ap.add_argument("--piece-size", type=int, default=0)
    ap.add_argument("--tracker", action="append")
    a = ap.parse_args()

    if a.mode == "make":
        make_torrent(a)
        return 0

    # A crash inside libtorrent (SIGSEGV, SIGABRT) prints the Python stack
    # of every thread to stderr, so the Go side's "last output" names the
    # call that was running instead of nothing.
    faulthandler.enable(all_threads=True)

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if not a.ignore_stdin:
        threading.Thread(target=watch_stdin, daemon=True).start()
    return run_peer(a)


if __name__ == "__main__":
    try:
        code = main()
    except SystemExit as e:  # argparse: --help, usage errors
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: B036 - report anything, then exit hard
        import traceback
        log("fatal: uncaught exception:\n" + traceback.format_exc())
        code = 3
    # hard_exit: skip interpreter finalisation (the stdin watcher thread may
    # still be blocked in read); the session is already torn down, or, on
    # an exception, left to die with the process rather than with the
    # interpreter.
    hard_exit(code or 0)
