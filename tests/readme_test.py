"""The README's Python example runs as written (a fresh process, in an
empty directory), and does what its comments say."""

import os
import re

import conftest

README = os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")


def test_readme_example_runs_and_its_model_reloads(tmp_path):
    with open(README) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(blocks) == 1, "one Python example in README.md"
    checks = """
loaded = keras.models.load_model("chans.keras")
frozen = [w for w in loaded.non_trainable_weights if "depthwise" in w.path]
assert frozen, [w.path for w in loaded.non_trainable_weights]
assert not [w for w in loaded.trainable_weights if "depthwise" in w.path]
assert layer.spatial_trainable is False
print("ok", len(frozen))
"""
    code = f"import os\nos.chdir({str(tmp_path)!r})\n" + blocks[0] + checks
    result = conftest.run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok ")
    assert (tmp_path / "chans.keras").exists()
