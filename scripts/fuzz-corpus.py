#!/usr/bin/env python3
"""Writes the fuzz seed corpus from the golden vectors (tests/vectors/*.json): every server
frame of the vectors for parse_server_frame and store_frames, and the frames the store sent
for parse_client_frame. Run it after changing the vectors; the corpus is committed."""
import hashlib, json, pathlib

root = pathlib.Path(__file__).resolve().parent.parent
corpus = root / "crates/core/fuzz/corpus"

def write(target, text):
    folder = corpus / target
    folder.mkdir(parents=True, exist_ok=True)
    data = text.encode()
    (folder / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)

for path in sorted((root / "tests/vectors").glob("*.json")):
    vector = json.loads(path.read_text())
    script = []
    for step in vector["steps"]:
        if "receive" in step:
            frame = json.dumps(step["receive"], separators=(",", ":"))
            write("parse_server_frame", frame)
            script.append(frame)
        elif "receiveText" in step:
            write("parse_server_frame", step["receiveText"])
            script.append(step["receiveText"])
        elif "call" in step:
            for frame in ([step["frame"]] if step.get("frame") else []) + step.get("frames", []):
                write("parse_client_frame", json.dumps(frame, separators=(",", ":")))
            call = {"send": "!send", "createSession": "!create", "interrupt": "!interrupt",
                    "connectionLost": "!lost", "connectionOpened": "!opened",
                    "pendingFrames": "!pending", "takeReadyFrames": "!ready"}.get(step["call"])
            if step["call"] == "switchSession" and step.get("args") and step["args"][0]:
                call = "!" + step["args"][0]
            if call:
                script.append(call)
    write("store_frames", "\n".join(script))
    write("routing", hashlib.sha1(path.name.encode()).hexdigest()[:8])
print("corpus written to", corpus)
