"""Reading the cloud assembly a synth wrote: each function's resource and its staged asset folder (what
`cdk deploy` uploads or builds), so the tests check the real staged files rather than the repository."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def asset_dir(synth: Any, logical_id: str) -> Path:
    """The staged folder of a function's code, found through the cloud assembly's asset manifest."""
    manifest = json.loads((synth.outdir / f"{synth.stack.artifact_id}.assets.json").read_text())
    code = synth.template["Resources"][logical_id]["Properties"]["Code"]
    if "S3Key" in code:
        asset_hash = code["S3Key"].removesuffix(".zip")
        return synth.outdir / manifest["files"][asset_hash]["source"]["path"]
    asset_hash = json.dumps(code["ImageUri"]).rsplit(":", 1)[-1].split('"')[0]
    return synth.outdir / manifest["dockerImages"][asset_hash]["source"]["directory"]


def functions(synth: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """Function name -> (logical id, resource) of every AWS::Lambda::Function."""
    return {r["Properties"]["FunctionName"]: (k, r) for k, r in synth.resources("AWS::Lambda::Function").items()}


@dataclass(frozen=True)
class Entry:
    """How Lambda will start one function: the handler strings it may be given and the code they run in."""

    function: str
    kind: str  # "zip", "inline" or "image"
    handlers: tuple[str, ...]
    code: Path | str  # the asset folder, or the inline source


def entries(synth: Any) -> list[Entry]:
    """Every function's handler strings as the template names them: ``Handler`` for zip and inline code; for an
    image, ``ImageConfig.Command`` when the template sets it and the Dockerfile's ``CMD`` (what the image runs
    without the override), both resolvable."""
    found = []
    for name, (logical_id, resource) in sorted(functions(synth).items()):
        props = resource["Properties"]
        if props.get("PackageType") == "Image":
            context = asset_dir(synth, logical_id)
            image_config = props.get("ImageConfig", {})
            assert "EntryPoint" not in image_config, f"{name}: the base image's entry point is the runtime client"
            from infra.images import read_dockerfile

            commands = [*image_config.get("Command", [])[:1], read_dockerfile(context / "Dockerfile").command[0]]
            found.append(Entry(name, "image", tuple(dict.fromkeys(commands)), context))
        elif "ZipFile" in props["Code"]:
            found.append(Entry(name, "inline", (props["Handler"],), props["Code"]["ZipFile"]))
        else:
            found.append(Entry(name, "zip", (props["Handler"],), asset_dir(synth, logical_id)))
    return found
