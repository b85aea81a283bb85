#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment in .venv with the suite, the three
# frameworks (torch pinned to the CPU build that lies on disk here), the test tools, and
# Debian's headless Chromium for the report's browser tests.
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
.venv/bin/python -m pip install -q --upgrade pip
# torch==2.13.0 exactly: any other specifier pulls a multi-GB CUDA build.
.venv/bin/python -m pip install -q -e ".[torch,jax,tensorflow,test]"
