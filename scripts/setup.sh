#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment in .venv with the suite, the three
# frameworks (torch pinned to the CPU build that lies on disk here), the test tools, and
# Debian's headless Chromium for the report's browser tests.
#
# The optional frameworks come on request: SETUP_EXTRA_FRAMEWORKS=mlx,paddle (or "all")
# installs them too, each from its extra in pyproject.toml. One that pip cannot install
# here, or that installs but does not import, is skipped with one line, and removed again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "setup: no apt-get; install chromium and chromedriver yourself for the browser tests" >&2
    fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip uv
# torch exactly as the torch extra pins it (2.13.0: any other specifier pulls a multi-GB CUDA
# build). pip takes it from this machine's disk, where uv does not look; uv then finds it installed.
torch_pin=$(.venv/bin/python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["torch"][0])')
.venv/bin/python -m pip install -q "$torch_pin"
# The rest with uv, which downloads and unpacks in parallel (42 s where pip took 70 s); pip if
# uv cannot.
if ! .venv/bin/python -m uv pip install -q --python .venv/bin/python --compile-bytecode -e ".[torch,jax,tensorflow,test]"; then
    echo "setup: uv could not install the suite and the frameworks; pip will" >&2
    .venv/bin/python -m pip install -q -e ".[torch,jax,tensorflow,test]"
fi
# The suite itself is installed editable, out of --compile-bytecode's reach: compile it here.
# Where PYTHONDONTWRITEBYTECODE is set (tox sets it) every process of every run would compile
# its hundred modules again: 0.15 s in each worker.
.venv/bin/python -m compileall -q conformance adapters >/dev/null

# The optional frameworks: name -> the module that must import.
declare -A EXTRA_IMPORTS=([mlx]="mlx.core" [paddle]="paddle")
requested="${SETUP_EXTRA_FRAMEWORKS:-}"
if [ "$requested" = "all" ]; then requested="mlx,paddle"; fi
IFS=',' read -r -a extras <<< "$requested"
for name in "${extras[@]}"; do
    name="${name// /}"
    [ -n "$name" ] || continue
    module="${EXTRA_IMPORTS[$name]:-}"
    if [ -z "$module" ]; then
        echo "setup: skipping $name: not an optional framework (those are: ${!EXTRA_IMPORTS[*]})" >&2
        continue
    fi
    if ! log=$(.venv/bin/python -m pip install -q -e ".[$name]" 2>&1); then
        echo "setup: skipping $name: pip cannot install it here: $(printf '%s\n' "$log" | grep -v '^\s*$' | tail -n 1)" >&2
        continue
    fi
    if ! log=$(.venv/bin/python -c "import $module" 2>&1); then
        echo "setup: skipping $name: it installed but does not import: $(printf '%s\n' "$log" | tail -n 1)" >&2
        case "$name" in
            mlx) .venv/bin/python -m pip uninstall -q -y mlx mlx-cpu mlx-metal >/dev/null 2>&1 || true ;;
            paddle) .venv/bin/python -m pip uninstall -q -y paddlepaddle >/dev/null 2>&1 || true ;;
        esac
        continue
    fi
    echo "setup: installed $name"
done
