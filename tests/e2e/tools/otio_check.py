"""Reads the project's exports with OpenTimelineIO and its adapters (tools no one here wrote)
and checks them against the sequence the test expects.

usage: otio_check.py DIR EXPECTED.json
  DIR holds board.otio, board.otioz, board.edl, board.xml (FCP7) and board.fcpxml;
  EXPECTED is a list of {"name": ..., "frames": ...}, the video track in order, at 24 fps.
Prints "ok" and exits 0, or prints every disagreement and exits 1.
"""

import json
import os
import sys
import zipfile

import opentimelineio as otio

problems = []


def timeline_of(result):
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = [t for t in result if isinstance(t, otio.schema.Timeline)]
        return timelines[0] if timelines else None
    return result


def video_clips(timeline):
    tracks = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video]
    if not tracks:
        return None
    return [
        (item.name, int(round(item.duration().rescaled_to(24).value)))
        for item in tracks[0]
        if isinstance(item, otio.schema.Clip)
    ]


def check(label, timeline, expected):
    if timeline is None:
        problems.append(f"{label}: no timeline")
        return
    got = video_clips(timeline)
    want = [(e["name"], e["frames"]) for e in expected]
    if got != want:
        problems.append(f"{label}: video track {got} != expected {want}")


def main():
    folder, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)
    path = lambda name: os.path.join(folder, name)

    otio_timeline = otio.adapters.read_from_file(path("board.otio"))
    check("board.otio", otio_timeline, expected)
    for clip in otio_timeline.find_clips():
        meta = clip.metadata.get("aktion", {})
        for key in ("prompt", "seed", "model", "route", "credits", "node", "take"):
            if key not in meta:
                problems.append(f"board.otio: clip {clip.name} has no aktion.{key}")
        url = clip.media_reference.target_url
        if os.path.isabs(url) or not os.path.isfile(path(url)):
            problems.append(f"board.otio: {url} is not a file relative to the export")

    bundle = otio.adapters.read_from_file(path("board.otioz"))
    check("board.otioz", bundle, expected)
    with zipfile.ZipFile(path("board.otioz")) as z:
        names = set(z.namelist())
    for clip in bundle.find_clips():
        if clip.media_reference.target_url not in names:
            problems.append(f"board.otioz: {clip.media_reference.target_url} not in the bundle")

    check("board.edl (cmx_3600)", otio.adapters.read_from_file(path("board.edl"), "cmx_3600", rate=24), expected)
    check("board.xml (fcp_xml)", timeline_of(otio.adapters.read_from_file(path("board.xml"), "fcp_xml")), expected)
    check("board.fcpxml (fcpx_xml)", timeline_of(otio.adapters.read_from_file(path("board.fcpxml"), "fcpx_xml")), expected)

    # OTIO converts the .otio to the editors' formats with the same clips, order and durations.
    for adapter in ("cmx_3600", "fcp_xml"):
        text = otio.adapters.write_to_string(otio_timeline, adapter)
        kwargs = {"rate": 24} if adapter == "cmx_3600" else {}
        back = timeline_of(otio.adapters.read_from_string(text, adapter, **kwargs))
        check(f"board.otio converted to {adapter}", back, expected)

    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print("ok")


main()
