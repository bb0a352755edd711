"""libtorrent's side of shardtorrent's resume-data round trip.

Run by interop/resume_lt_test.go under /usr/bin/python3 (Debian's
python3-libtorrent 2.0.8). One session on 127.0.0.1 with DHT, LSD, UPnP and
NAT-PMP off, one torrent, no peers; it exits when done.

Modes:
  write  --torrent T --save DIR --out FILE [--no-info]
         add T over the data in DIR, let libtorrent check it, then save
         resume data (with the info dictionary unless --no-info) and write
         lt.write_resume_data_buf(params) to FILE.
  read   --resume FILE
         lt.read_resume_data(FILE's bytes), add the torrent, wait for
         torrent_checked_alert.

Both print one JSON object on stdout: "have" (the piece indexes
libtorrent's status says it has), "states" (every state the torrent passed
through, from state_changed_alert), "rejected" (a fastresume_rejected_alert
message, or ""), and "errors" (any torrent or file error alerts).
"""

import argparse
import json
import sys
import time

import libtorrent as lt

STATE_NAMES = {
    lt.torrent_status.states.queued_for_checking: "queued_for_checking",
    lt.torrent_status.states.checking_files: "checking_files",
    lt.torrent_status.states.downloading_metadata: "downloading_metadata",
    lt.torrent_status.states.downloading: "downloading",
    lt.torrent_status.states.finished: "finished",
    lt.torrent_status.states.seeding: "seeding",
    lt.torrent_status.states.allocating: "allocating",
    lt.torrent_status.states.checking_resume_data: "checking_resume_data",
}

DEADLINE = 60.0


def session():
    return lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "alert_mask": lt.alert.category_t.all_categories,
    })


def wait_for(ses, report, want):
    """Pops alerts, recording states and errors, until an alert of type want
    arrives; returns it. Fails after DEADLINE seconds."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        ses.wait_for_alert(500)
        for a in ses.pop_alerts():
            if isinstance(a, lt.state_changed_alert):
                report["states"].append(STATE_NAMES.get(a.state, str(a.state)))
            elif isinstance(a, lt.fastresume_rejected_alert):
                report["rejected"] = a.message()
            elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert,
                                lt.save_resume_data_failed_alert)):
                report["errors"].append(a.message())
            elif isinstance(a, lt.add_torrent_alert) and a.error.value() != 0:
                report["errors"].append(a.message())
            if isinstance(a, want):
                return a
        if report["errors"]:
            break
    print(json.dumps(report))
    sys.exit("resume_lt: no %s (errors %s)" % (want.__name__, report["errors"]))


def have_of(h):
    return [i for i, b in enumerate(h.status().pieces) if b]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["write", "read"])
    p.add_argument("--torrent")
    p.add_argument("--save")
    p.add_argument("--out")
    p.add_argument("--resume")
    p.add_argument("--no-info", action="store_true")
    a = p.parse_args()

    report = {"states": [], "rejected": "", "errors": []}
    ses = session()
    if a.mode == "write":
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(a.torrent)
        atp.save_path = a.save
    else:
        with open(a.resume, "rb") as f:
            atp = lt.read_resume_data(f.read())
    atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
    h = ses.add_torrent(atp)
    wait_for(ses, report, lt.torrent_checked_alert)
    report["have"] = have_of(h)
    if a.mode == "write":
        flags = 0 if a.no_info else lt.torrent_handle.save_info_dict
        h.save_resume_data(flags)
        alert = wait_for(ses, report, lt.save_resume_data_alert)
        with open(a.out, "wb") as f:
            f.write(lt.write_resume_data_buf(alert.params))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
