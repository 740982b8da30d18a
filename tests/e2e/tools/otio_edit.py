"""Edits an exported .otio as an editor would, with OpenTimelineIO itself: the last shot moves
to the front, the shot named LONGER is made 24 frames longer than it is, the shot named DROP
is taken out.

usage: otio_edit.py IN.otio OUT.otio LONGER DROP
"""

import sys

import opentimelineio as otio

src, dst, longer, drop = sys.argv[1:5]
timeline = otio.adapters.read_from_file(src)
video = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video][0]
clips = [c for c in video if isinstance(c, otio.schema.Clip)]
last = clips[-1]
video.remove(last)
video.insert(0, last)
for clip in list(video):
    if not isinstance(clip, otio.schema.Clip):
        continue
    if clip.name == longer:
        r = clip.source_range
        clip.source_range = otio.opentime.TimeRange(
            r.start_time, r.duration + otio.opentime.RationalTime(24, r.duration.rate)
        )
    if clip.name == drop:
        video.remove(clip)
otio.adapters.write_to_file(timeline, dst)
print("ok")
