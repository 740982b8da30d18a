//! `aktion import-shots`: a CSV shot list and a Fountain screenplay made into shots from a
//! template of the example storyboard; malformed files and templates exit 2 and leave the
//! project as it was.

use serde_json::Value;

use crate::cli::Sandbox;

fn doc(sb: &Sandbox) -> Value {
    serde_json::from_slice(&std::fs::read(sb.project().join("project.json")).expect("read"))
        .expect("json")
}

/// The storyboard with its "Rooftop at night" node's prompt asking for the row's fields.
fn sandbox() -> (Sandbox, String) {
    let sb = Sandbox::new("storyboard.aktion");
    let path = sb.project().join("project.json");
    let mut d = doc(&sb);
    let nodes = d["nodes"].as_array_mut().expect("nodes");
    let night = nodes
        .iter_mut()
        .find(|n| n["kind"] == "i2i")
        .expect("the i2i node");
    night["params"]["prompt"] = Value::from("{shot_type}: {description}, heavy rain");
    let id = night["id"].as_str().expect("id").to_owned();
    std::fs::write(&path, serde_json::to_vec_pretty(&d).expect("json")).expect("write");
    (sb, id)
}

#[test]
fn a_shot_list_becomes_framed_copies_and_shots_with_the_batch_priced() {
    let (sb, template) = sandbox();
    let before = doc(&sb);
    let list = sb.dir.path().join("shots.csv");
    std::fs::write(
        &list,
        "Shot #,Title,Description,Shot size,Duration\r\n\
         14,Ledge,\"Mara on the ledge, looking down\",WS,4\r\n\
         15,Drop,Mara jumps,CU,2.5\r\n\
         16,Street,\"The street below, empty\",EWS,\r\n",
    )
    .expect("write");
    let project = sb.project();
    let run = sb.run(&[
        "import-shots",
        project.to_str().expect("utf8"),
        list.to_str().expect("utf8"),
        "--template",
        &template,
        "--route",
        "account",
        "--json",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value = serde_json::from_slice(&run.stdout).expect("json report");
    assert_eq!(report["shots"], 3);
    assert_eq!(report["nodes"], 3);
    assert_eq!(
        report["to_run"], 4,
        "three new pictures to make, and the location picture they share"
    );
    let i2i_price = 5;
    assert!(
        report["credits"].as_u64().expect("credits") == 3 * i2i_price,
        "the whole batch is priced: {report}"
    );
    let after = doc(&sb);
    let shots = after["sequence"]["shots"].as_array().expect("shots");
    let old = before["sequence"]["shots"].as_array().expect("shots").len();
    assert_eq!(shots.len(), old + 3, "added at the end");
    assert_eq!(shots[old]["number"], "14");
    assert_eq!(shots[old]["title"], "Ledge");
    assert_eq!(shots[old]["camera"]["shot_type"], "WS");
    assert_eq!(
        shots[old]["hold_ms"], 4_000,
        "a still holds the row's duration"
    );
    assert_eq!(shots[old + 1]["hold_ms"], 2_500);
    assert!(shots[old + 2].get("hold_ms").is_none());
    let nodes = after["nodes"].as_array().expect("nodes");
    let prompt_of = |shot: &Value| {
        let node = nodes
            .iter()
            .find(|n| n["id"] == shot["node"])
            .expect("the shot's node");
        node["params"]["prompt"]
            .as_str()
            .expect("prompt")
            .to_owned()
    };
    assert_eq!(
        prompt_of(&shots[old]),
        "WS: Mara on the ledge, looking down, heavy rain"
    );
    assert_eq!(
        prompt_of(&shots[old + 2]),
        "EWS: The street below, empty, heavy rain"
    );
    // Each copy takes the location picture the template takes, from outside the template.
    let wires = after["wires"].as_array().expect("wires");
    let into_template = wires
        .iter()
        .find(|w| w["to"] == template.as_str())
        .expect("the template's input");
    for shot in &shots[old..] {
        assert!(
            wires
                .iter()
                .any(|w| w["to"] == shot["node"] && w["from"] == into_template["from"]),
            "the copy is wired to the same location"
        );
    }
    let frames = after["frames"].as_array().expect("frames");
    assert!(frames.iter().any(|f| f["title"] == "14 · Ledge"));
    // The project is still valid, and the new shots run on the draft route.
    let (code, run) = sb.run_json(&[]);
    assert_eq!(code, 0, "{run}");
}

#[test]
fn a_screenplay_becomes_a_shot_per_scene_from_a_frame() {
    let (sb, _) = sandbox();
    let script = sb.dir.path().join("rooftop.fountain");
    std::fs::write(
        &script,
        "Title: Rooftop\n\nINT. STAIRWELL - NIGHT #20#\n\nMara climbs, out of breath.\n\n\
         MARA\n(to herself)\nAlmost there.\n\nEXT. ROOFTOP - NIGHT #21#\n\nThe Broker waits in the rain.\n",
    )
    .expect("write");
    let project = sb.project();
    let run = sb.run(&[
        "import-shots",
        project.to_str().expect("utf8"),
        script.to_str().expect("utf8"),
        "--template",
        "Shot 12–13: the punch",
        "--json",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value = serde_json::from_slice(&run.stdout).expect("json");
    assert_eq!(report["shots"], 2);
    let after = doc(&sb);
    let shots = after["sequence"]["shots"].as_array().expect("shots");
    let last = &shots[shots.len() - 2..];
    assert_eq!(last[0]["number"], "20");
    assert_eq!(last[0]["title"], "INT. STAIRWELL - NIGHT");
    assert_eq!(last[0]["description"], "Mara climbs, out of breath.");
    assert_eq!(last[0]["dialogue"], "MARA: Almost there.");
    assert_eq!(last[1]["description"], "The Broker waits in the rain.");
}

#[test]
fn malformed_shot_lists_and_templates_exit_2_and_change_nothing() {
    let (sb, template) = sandbox();
    let project = sb.project();
    let project = project.to_str().expect("utf8");
    let before = std::fs::read(sb.project().join("project.json")).expect("read");
    let write = |name: &str, text: &[u8]| {
        let p = sb.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("utf8").to_owned()
    };
    let refuse = |file: &str, template: &str, needle: &str| {
        let run = sb.run(&["import-shots", project, file, "--template", template]);
        let err = String::from_utf8_lossy(&run.stderr).into_owned();
        assert_eq!(run.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(needle), "{file}: {err}");
    };
    let uneven = write(
        "uneven.csv",
        b"description,shot_type\nok,WS\ntoo,many,fields\n",
    );
    refuse(&uneven, &template, "line 3: the row has 3 fields");
    let binary = write("binary.csv", b"description\n\xff\xfe\x00\n");
    refuse(&binary, &template, "not UTF-8");
    let no_field = write("titles.csv", b"title\nLedge\n");
    refuse(
        &no_field,
        &template,
        "{description}, which the shot list has no field for",
    );
    let prose = write("prose.fountain", b"Just prose, no scenes.\n");
    refuse(&prose, &template, "no scene headings");
    let ok = write("ok.csv", b"description,shot_type\nok,WS\n");
    refuse(&ok, "No such frame", "no frame or node `No such frame`");
    let pdf = write("list.pdf", b"%PDF-1.7");
    refuse(&pdf, &template, "a shot list is a .csv");
    refuse("/nonexistent/list.csv", &template, "cannot read");
    assert_eq!(
        std::fs::read(sb.project().join("project.json")).expect("read"),
        before,
        "the project is untouched"
    );
}
