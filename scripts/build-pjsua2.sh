#!/usr/bin/env bash
# Build a server-capable pjsua2 Python module and install it into a venv.
#
#   scripts/build-pjsua2.sh VENV_DIR
#
# The PyPI wheel `pjsua2-python` is compiled with PJSUA_MAX_CALLS=4, far too
# few for a server, so we compile pjproject ourselves with server limits (see
# CONFIG_SITE below) and package its SWIG binding as a wheel.  The wheel is
# cached outside the work tree, keyed by a hash of everything that affects it,
# so the ~3-4 minute build happens once per machine and later runs only
# re-install the wheel (a few seconds).  See docs/pjsua2-build.md.
#
# Source of pjproject (upstream 2.17; see docs/pjsua2-build.md):
#   default          the upstream release tar of tag 2.17, checked against its
#                    SHA-256 (of the uncompressed tar): taken from
#                    PJPROJECT_TARBALL, else from the vendored copy in
#                    ../shared/vendor/ (or /work/shared/vendor/), else
#                    downloaded from upstream's release archive.  Where none
#                    of these is possible, Debian bookworm's `ring` source
#                    (pjproject 2.12.1) with a warning (PJSUA2_DEBIAN_FALLBACK=0
#                    refuses instead).
#   PJPROJECT_SRC=D  an upstream pjproject source tree at D (copied, never
#                    modified); same config_site.h and configure flags.
#
# Environment knobs:
#   PJSUA2_CACHE_DIR     cache root (default /var/cache/callvault, or
#                        ~/.cache/callvault when that is not writable)
#   PJSUA2_REBUILD=1     ignore a cached wheel and build again
#   PJSUA2_KEEP_BUILD=1  keep the build tree (default: deleted on success)
#   PJSUA2_VERIFY_CALLS  calls to really place during the post-build capacity
#                        check (default 1000; 0 skips; also runs on a cache
#                        hit when set explicitly)
#   PJSUA2_JOBS          make -j value (default: nproc)
#
# Exit status is non-zero, with a `pjsua2-build: ERROR:` line, whenever the
# module could not be built/installed/verified, so a caller can fall back to
# the PyPI wheel.
set -euo pipefail

RECIPE_VERSION=2   # bump when the build steps change in a way that matters

log() { printf 'pjsua2-build: %s\n' "$*" >&2; }
die() { printf 'pjsua2-build: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 VENV_DIR"
[[ -d $1 ]] || die "venv directory '$1' does not exist"
VENV_DIR=$(cd "$1" && pwd)
PY="$VENV_DIR/bin/python"
[[ -x $PY ]] || die "no python interpreter at $PY"
"$PY" -m pip --version >/dev/null 2>&1 || die "pip is not available in $VENV_DIR"

JOBS=${PJSUA2_JOBS:-$(nproc 2>/dev/null || echo 1)}

# --------------------------------------------------------------------------
# Build configuration.  Everything here is part of the cache key.
# --------------------------------------------------------------------------
read -r -d '' CONFIG_SITE <<'EOF' || true
/* pjlib/include/pj/config_site.h -- written by callvault's
 * scripts/build-pjsua2.sh.  Server limits; see docs/pjsua2-build.md. */

/* Concurrent SIP legs (upstream default: 4).  A bridged call holds two (the
 * caller and the queue leg), so 2048 slots hold 1,024 bridged calls.  The
 * slots are a static array (pjsua_var is ~40 MB of BSS per 1024 slots with
 * the media count below); pages are only touched when used. */
#define PJSUA_MAX_CALLS             2048

/* A recorded call uses one recorder per leg (2 per call), plus prompts. */
#define PJSUA_MAX_PLAYERS           4200
#define PJSUA_MAX_RECORDERS         4200

/* Conference bridge slots: >= calls + players + recorders (12496).  Each
 * port in use costs a few bytes per slot (arrays sized by this value). */
#define PJSUA_MAX_CONF_PORTS        12800

/* Sockets in the (epoll) ioqueue: SIP transports + 2 RTP/RTCP per call.
 * PJSIP_MAX_TRANSPORTS defaults to this value too. */
#define PJ_IOQUEUE_MAX_HANDLES      16384

/* Media lines per SDP (default 16); 4 keeps each call slot small. */
#define PJMEDIA_MAX_SDP_MEDIA       4

/* Transaction / dialog tables (defaults 1023 / 511 are below 1024 calls). */
#define PJSIP_MAX_TSX_COUNT         (8*1024-1)
#define PJSIP_MAX_DIALOG_COUNT      (8*1024-1)

/* PJ_IOQUEUE_HAS_SAFE_UNREG keeps its default (1): required when several
 * threads poll the ioqueue, which pjsua does with worker threads. */
EOF

CONFIGURE_FLAGS=(
    --enable-epoll
    --disable-sound
    --disable-video
    --disable-gsm-codec
    --disable-speex-codec
    --disable-speex-aec
    --disable-ilbc-codec
    --disable-g7221-codec
    # Not used by a headless server; disabled so the result does not depend
    # on which -dev packages happen to be installed on the machine.
    --disable-libwebrtc
    --disable-libyuv
    --disable-sdl
    --disable-ffmpeg
    --disable-v4l2
    --disable-openh264
    --disable-vpx
    --disable-opencore-amr
    --disable-silk
    --disable-opus
    --disable-bcg729
)
BUILD_CFLAGS="-O2 -fPIC -DNDEBUG"
SWIG_THREADS="-threads"   # GIL-safe callbacks from pjsip/media threads

# --------------------------------------------------------------------------
# Cache location and lock.
# --------------------------------------------------------------------------
CACHE_ROOT=${PJSUA2_CACHE_DIR:-/var/cache/callvault}
if ! mkdir -p "$CACHE_ROOT" 2>/dev/null || [[ ! -w $CACHE_ROOT ]]; then
    [[ -z ${PJSUA2_CACHE_DIR:-} ]] || die "cache dir $CACHE_ROOT is not writable"
    CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/callvault"
    mkdir -p "$CACHE_ROOT" || die "cannot create cache dir $CACHE_ROOT"
fi
exec 9>"$CACHE_ROOT/.pjsua2-build.lock"
if ! flock -n 9; then
    log "another pjsua2 build holds $CACHE_ROOT/.pjsua2-build.lock; waiting"
    flock 9
fi

is_root() { [[ $(id -u) -eq 0 ]]; }

# --------------------------------------------------------------------------
# Identify the pjproject source (cheaply: nothing is downloaded here).
# --------------------------------------------------------------------------
PJ_RELEASE=2.17
PJ_TAR_SHA256=a56dd79d978ce8d796969ee3f43b6e9e586d38aec7328645504f5b4e6255ad2c
PJ_URL="https://github.com/pjsip/pjproject/archive/refs/tags/$PJ_RELEASE.tar.gz"
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

find_tarball() {
    # The release tar: an explicit file, the vendored copy, or a download into the cache.
    local c
    for c in "${PJPROJECT_TARBALL:-}" "$SCRIPT_DIR/../../shared/vendor/pjproject-$PJ_RELEASE.tar.gz" \
             "/work/shared/vendor/pjproject-$PJ_RELEASE.tar.gz" "$CACHE_ROOT/pjproject-$PJ_RELEASE.tar.gz"; do
        [[ -n $c && -f $c ]] && { echo "$c"; return 0; }
    done
    local dl="$CACHE_ROOT/pjproject-$PJ_RELEASE.tar.gz"
    log "downloading $PJ_URL"
    command -v curl >/dev/null || { log "no pjproject $PJ_RELEASE tar found and curl is missing"; return 1; }
    curl -fsSL --retry 2 --connect-timeout 20 -o "$dl.part" "$PJ_URL" \
        || { rm -f "$dl.part"; log "download of $PJ_URL failed"; return 1; }
    mv "$dl.part" "$dl"
    echo "$dl"
}

DEBSRC_LIST=/etc/apt/sources.list.d/callvault-deb-src.sources

ensure_deb_src() {
    # A deb-src entry for bookworm main (+ updates, + security), mirroring the
    # machine's existing `deb` URIs so `apt-get source ring` works.
    if apt-get source --print-uris ring 2>/dev/null | grep -q '\.dsc'; then
        return 0
    fi
    is_root || die "no deb-src entry for bookworm and not root: cannot fetch Debian's ring source (run as root, or set PJPROJECT_SRC)"
    [[ -r /etc/os-release ]] && . /etc/os-release
    [[ ${VERSION_CODENAME:-} == bookworm ]] \
        || die "Debian bookworm expected (found '${VERSION_CODENAME:-unknown}'); set PJPROJECT_SRC to an upstream pjproject tree"
    local main_uri sec_uri uris
    # every URI of an enabled deb/deb822 entry, in order
    uris=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}
               /^deb[ \t]/ {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; break}}' || true)
    sec_uri=$(grep -m1 -- 'debian-security' <<<"$uris" || true)
    main_uri=$(grep -v -- '-security' <<<"$uris" | grep -m1 -E '/debian/?$' || true)
    main_uri=${main_uri:-http://deb.debian.org/debian}
    sec_uri=${sec_uri:-http://deb.debian.org/debian-security}
    log "adding $DEBSRC_LIST (deb-src $main_uri bookworm, $sec_uri bookworm-security)"
    cat >"$DEBSRC_LIST" <<EOF
# Added by callvault scripts/build-pjsua2.sh: source packages for the pjsua2 build.
Types: deb-src
URIs: $main_uri
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $sec_uri
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    log "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    apt-get source --print-uris ring 2>/dev/null | grep -q '\.dsc' \
        || die "Debian source package 'ring' not found after adding deb-src"
}

hash_tree() {
    # Identity of an upstream tree: git HEAD + local diff, or else a listing
    # (path, size, mtime) of the source files, ignoring build outputs.
    local src=$1
    if git -C "$src" rev-parse HEAD >/dev/null 2>&1; then
        { git -C "$src" rev-parse HEAD; git -C "$src" diff HEAD -- . ':!pjlib/include/pj/config_site.h' 2>/dev/null; } | sha256sum | cut -c1-16
    else
        (cd "$src" && find . -path '*/output' -prune -o -path ./pjsip-apps/src/swig -prune -o -type f \
            \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' -o -name '*.mak' -o -name 'Makefile' -o -name 'aconfigure' \) \
            ! -name config_site.h ! -name '*_auto.h' ! -name 'os-auto.mak' ! -name 'build.mak' ! -name 'sip_autoconf.h' ! -name 'config_auto.h' \
            -printf '%P %s %T@\n' | LC_ALL=C sort | sha256sum | cut -c1-16)
    fi
}

if [[ -n ${PJPROJECT_SRC:-} ]]; then
    [[ -f $PJPROJECT_SRC/version.mak && -d $PJPROJECT_SRC/pjsip-apps/src/swig/python ]] \
        || die "PJPROJECT_SRC=$PJPROJECT_SRC does not look like a pjproject tree (no version.mak / swig/python)"
    PJPROJECT_SRC=$(cd "$PJPROJECT_SRC" && pwd)
    SOURCE_ID="upstream:$PJPROJECT_SRC:$(hash_tree "$PJPROJECT_SRC")"
elif PJ_TARBALL=$(find_tarball); then
    got=$(gzip -dc "$PJ_TARBALL" | sha256sum | cut -d' ' -f1)
    [[ $got == "$PJ_TAR_SHA256" ]] \
        || die "$PJ_TARBALL: SHA-256 of the tar is $got, expected $PJ_TAR_SHA256 (pjproject $PJ_RELEASE)"
    SOURCE_ID="upstream-release:$PJ_RELEASE:$PJ_TAR_SHA256"
else
    # Last resort, kept until 2.17 has held every capacity figure (issue 9): Debian's
    # pjproject 2.12.1 (the Jami fork in the `ring` source package), with a loud warning.
    [[ ${PJSUA2_DEBIAN_FALLBACK:-1} == 1 ]] \
        || die "no pjproject $PJ_RELEASE tar (set PJPROJECT_TARBALL or PJPROJECT_SRC)"
    log "WARNING: no pjproject $PJ_RELEASE tar found or downloadable; falling back to Debian's ring (pjproject 2.12.1)"
    command -v apt-get >/dev/null || die "apt-get not found: set PJPROJECT_TARBALL or PJPROJECT_SRC"
    ensure_deb_src
    DSC_LINE=$(apt-get source --print-uris ring 2>/dev/null | grep '\.dsc' | head -n1)
    DSC_NAME=$(awk '{print $2}' <<<"$DSC_LINE")
    SOURCE_ID="debian-ring:$DSC_NAME $(awk '{print $4}' <<<"$DSC_LINE")"
fi

PY_ABI=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("SOABI"), sysconfig.get_platform())')
KEY=$(printf '%s\n' "recipe=$RECIPE_VERSION" "source=$SOURCE_ID" "python=$PY_ABI" \
        "os=$(cat /etc/debian_version 2>/dev/null || uname -r)" \
        "cflags=$BUILD_CFLAGS" "swig=$SWIG_THREADS" "configure=${CONFIGURE_FLAGS[*]}" \
        "$(grep '^#define' <<<"$CONFIG_SITE" | tr -s ' \t' ' ')" | sha256sum | cut -c1-12)
# (only the #define lines of CONFIG_SITE count: editing comments does not rebuild)

find_cached() {
    # Cache dirs are named pjsua2-<pjproject version>-<key>.
    local d
    for d in "$CACHE_ROOT"/pjsua2-*-"$KEY"; do
        [[ -d $d ]] || continue
        compgen -G "$d/pjsua2-*.whl" >/dev/null && { echo "$d"; return 0; }
    done
    return 1
}

# --------------------------------------------------------------------------
# Install + verify (used for both a cache hit and a fresh build).
# --------------------------------------------------------------------------
install_wheel() {
    local whl=$1
    if "$PY" -m pip show pjsua2-python >/dev/null 2>&1; then
        log "removing PyPI pjsua2-python from the venv (same module name)"
        "$PY" -m pip uninstall -y -q pjsua2-python >&2
    fi
    log "installing $(basename "$whl") into $VENV_DIR"
    "$PY" -m pip install -q --force-reinstall --no-deps --disable-pip-version-check "$whl" >&2
}

VERIFY_PY=$(cat <<'EOF'
import os, resource, socket, sys, time

want_calls = int(sys.argv[1])
expect_max = int(sys.argv[2])

import pjsua2 as pj

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return -1.0

ep = pj.Endpoint()
ep.libCreate()
print("version:", ep.libVersion().full)
cfg = pj.EpConfig()
compiled_max = cfg.uaConfig.maxCalls           # default == PJSUA_MAX_CALLS
print("compiled PJSUA_MAX_CALLS:", compiled_max)
if compiled_max < expect_max:
    print("FAIL: compiled max calls", compiled_max, "<", expect_max)
    sys.exit(2)
if want_calls <= 0:
    sys.stdout.flush()
    os._exit(0)          # skip libDestroy: it logs a line per call slot

# Real check: configure maxCalls, start the library and place calls
# until the slot table refuses one.  INVITEs go to a UDP socket of ours on
# 127.0.0.1 that never answers, so the calls just sit in CALLING state.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
cfg.uaConfig.maxCalls = want_calls
cfg.uaConfig.threadCnt = 1
cfg.logConfig.level = 1
cfg.logConfig.consoleLevel = 1
cfg.medConfig.threadCnt = 1
rss0 = rss_mb()
ep.libInit(cfg)
tcfg = pj.TransportConfig()
tcfg.port = 0
tcfg.boundAddress = "127.0.0.1"
ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
ep.libStart()
ep.audDevManager().setNullDev()
print("conference bridge ports:", ep.mediaMaxPorts())
print("RSS after libInit/libStart: %.0f MB (before: %.0f MB)" % (rss_mb(), rss0))

sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sink.bind(("127.0.0.1", 0))
target = "sip:sink@127.0.0.1:%d" % sink.getsockname()[1]
acfg = pj.AccountConfig()
acfg.idUri = "sip:verify@127.0.0.1"
acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
acc = pj.Account()
acc.create(acfg)

calls, refused = [], None
t0 = time.time()
for i in range(want_calls + 1):
    c = pj.Call(acc)
    try:
        c.makeCall(target, pj.CallOpParam(True))
    except pj.Error as e:
        refused = "%s (%s)" % (e.reason, e.status)
        break
    calls.append(c)
dt = time.time() - t0
print("calls placed: %d of %d requested (%.1fs); next one refused: %s"
      % (len(calls), want_calls, dt, refused))
print("RSS with %d calls: %.0f MB" % (len(calls), rss_mb()))
sys.stdout.flush()
# Pending INVITEs would keep libDestroy waiting for timeouts; just exit.
ok = len(calls) == want_calls and refused is not None
os._exit(0 if ok else 3)
EOF
)

verify() {
    local calls=$1
    log "verifying the installed module (capacity check: ${calls} calls)"
    local out rc=0
    out=$(cd / && timeout 300 "$PY" -c "$VERIFY_PY" "$calls" 2048 2>&1) || rc=$?
    if [[ $rc -ne 0 ]]; then
        printf '%s\n' "$out" | tail -n 40 | sed 's/^/pjsua2-build:   /' >&2
        return 1
    fi
    # our own report lines only, not pjsip's timestamped log lines
    printf '%s\n' "$out" | grep -Ev '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} ' | sed 's/^/pjsua2-build:   /' >&2
    # The one-liner the rest of the project relies on.
    (cd / && "$PY" -c "import pjsua2 as pj; ep=pj.Endpoint(); ep.libCreate(); print(ep.libVersion().full)") >/dev/null
}

# --------------------------------------------------------------------------
# Fast path: cached wheel.
# --------------------------------------------------------------------------
if [[ ${PJSUA2_REBUILD:-0} != 1 ]] && CACHED=$(find_cached); then
    WHEEL=$(ls "$CACHED"/pjsua2-*.whl | head -n1)
    log "using cached build $CACHED"
    install_wheel "$WHEEL" || die "pip install of cached wheel failed"
    verify "${PJSUA2_VERIFY_CALLS:-0}" || die "cached wheel installed but verification failed (PJSUA2_REBUILD=1 to rebuild)"
    log "done (cached)"
    exit 0
fi

# --------------------------------------------------------------------------
# Full build.
# --------------------------------------------------------------------------
START=$(date +%s)
WORK="$CACHE_ROOT/build-$KEY"
STAGE="$CACHE_ROOT/.stage-$KEY"
rm -rf "$WORK" "$STAGE"
mkdir -p "$WORK" "$STAGE"
BUILD_LOG="$STAGE/build.log"
: >"$BUILD_LOG"
log "no cached wheel for key $KEY; building (log: $BUILD_LOG)"

cleanup_fail() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        log "build failed; last lines of $BUILD_LOG:"
        tail -n 25 "$BUILD_LOG" 2>/dev/null | sed 's/^/pjsua2-build:   /' >&2 || true
        # keep the log where a human can find it
        cp -f "$BUILD_LOG" "$CACHE_ROOT/last-failed-build.log" 2>/dev/null || true
        [[ ${PJSUA2_KEEP_BUILD:-0} == 1 ]] || rm -rf "$WORK"
        rm -rf "$STAGE"
    fi
}
trap cleanup_fail EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run() { # run a build step, output to the log
    printf '\n+ %s\n' "$*" >>"$BUILD_LOG"
    "$@" >>"$BUILD_LOG" 2>&1
}

# ---- build prerequisites
PY_INCLUDE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
need_pkgs=()
for p in build-essential dpkg-dev swig libssl-dev; do
    [[ -n ${PJ_TARBALL:-}${PJPROJECT_SRC:-} && $p == dpkg-dev ]] && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if [[ ! -f $PY_INCLUDE/Python.h ]]; then
    # only Debian's own python gets its headers from a package
    need_pkgs+=(python3-dev)
fi
if ((${#need_pkgs[@]})); then
    is_root || die "missing packages: ${need_pkgs[*]} (install them, or run as root)"
    log "apt-get install ${need_pkgs[*]}"
    run apt-get update -qq || die "apt-get update failed"
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" \
        || die "apt-get install ${need_pkgs[*]} failed"
fi
[[ -f $PY_INCLUDE/Python.h ]] || die "Python.h not found in $PY_INCLUDE (the venv's python has no headers)"
for t in gcc g++ make swig; do command -v "$t" >/dev/null || die "$t not found"; done

# ---- source
SRC="$WORK/pjproject"
if [[ -n ${PJPROJECT_SRC:-} ]]; then
    log "copying upstream tree $PJPROJECT_SRC"
    mkdir -p "$SRC"
    tar -C "$PJPROJECT_SRC" --exclude=.git --exclude='*/output' --exclude='*.o' --exclude='*.a' \
        --exclude='*.so' --exclude='*.so.*' --exclude='.*depend' -cf - . | tar -C "$SRC" -xf - \
        || die "copying $PJPROJECT_SRC failed"
    SOURCE_NOTE="upstream tree $PJPROJECT_SRC"
elif [[ -n ${PJ_TARBALL:-} ]]; then
    log "unpacking $PJ_TARBALL (SHA-256 of the tar checked)"
    mkdir -p "$WORK/tarball"
    tar -C "$WORK/tarball" -xzf "$PJ_TARBALL" || die "unpacking $PJ_TARBALL failed"
    PJDIR=$(dirname "$(find "$WORK/tarball" -maxdepth 2 -name version.mak | head -n1)")
    [[ -f $PJDIR/version.mak ]] || die "no pjproject tree in $PJ_TARBALL"
    mv "$PJDIR" "$SRC"
    rm -rf "$WORK/tarball"
    SOURCE_NOTE="upstream release $PJ_RELEASE ($(basename "$PJ_TARBALL"), tar SHA-256 $PJ_TAR_SHA256)"
else
    log "apt-get source ring ($DSC_NAME)"
    mkdir -p "$WORK/debian"
    # dpkg-source unpacks and applies Debian's patch series (incl. security fixes).
    (cd "$WORK/debian" && run apt-get source -q ring) || die "apt-get source ring failed"
    RING_DIR=$(find "$WORK/debian" -mindepth 1 -maxdepth 1 -type d -name 'ring-*' | head -n1)
    [[ -n $RING_DIR ]] || die "ring source did not unpack"
    grep -q 'applying CVE-' "$BUILD_LOG" && log "Debian patches applied: $(grep -o 'applying CVE-[^ ]*' "$BUILD_LOG" | sed 's/applying //' | tr '\n' ' ')"
    PJDIR=""
    for cand in "$RING_DIR"/daemon/contrib/tarballs-unpacked/pjproject-* "$RING_DIR"/daemon/contrib/tarballs/pjproject-*; do
        [[ -e $cand ]] || continue
        if [[ -d $cand ]]; then
            if [[ -f $cand/version.mak ]]; then PJDIR=$cand; else
                PJDIR=$(dirname "$(find "$cand" -maxdepth 2 -name version.mak | head -n1)" 2>/dev/null || true)
                [[ -f $PJDIR/version.mak ]] || PJDIR=""
            fi
        elif [[ -f $cand ]]; then
            log "unpacking $(basename "$cand")"
            mkdir -p "$WORK/tarball" && tar -C "$WORK/tarball" -xf "$cand"
            PJDIR=$(dirname "$(find "$WORK/tarball" -maxdepth 2 -name version.mak | head -n1)")
        fi
        [[ -n $PJDIR ]] && break
    done
    [[ -n $PJDIR && -f $PJDIR/version.mak ]] || die "no pjproject tree found in the ring source package"
    mv "$PJDIR" "$SRC"
    cp "$RING_DIR/debian/patches/series" "$STAGE/debian-patches-series" 2>/dev/null || true
    cp "$RING_DIR/debian/changelog" "$STAGE/debian-changelog" 2>/dev/null || true
    rm -rf "$WORK/debian" "$WORK/tarball"
    SOURCE_NOTE="Debian bookworm source package $DSC_NAME (debian/patches applied by dpkg-source)"
fi
pj_var() { sed -n "s/^export[ \t]*PJ_VERSION_$1[ \t]*:=[ \t]*\([^ \t]*\).*/\1/p" "$SRC/version.mak" | head -n1; }
PJ_VERSION="$(pj_var MAJOR).$(pj_var MINOR)"
[[ -z $(pj_var REV) ]] || PJ_VERSION+=".$(pj_var REV)"
PJ_VERSION+="$(pj_var SUFFIX)"
[[ $PJ_VERSION =~ ^[0-9]+\.[0-9]+ ]] || die "cannot read the pjproject version from version.mak"
log "pjproject $PJ_VERSION from $SOURCE_NOTE"

# ---- configure + libraries
printf '%s\n' "$CONFIG_SITE" >"$SRC/pjlib/include/pj/config_site.h"
cp "$SRC/pjlib/include/pj/config_site.h" "$STAGE/config_site.h"
log "configure ${CONFIGURE_FLAGS[*]}"
(cd "$SRC" && chmod +x configure aconfigure 2>/dev/null; \
    run ./configure "${CONFIGURE_FLAGS[@]}" CFLAGS="$BUILD_CFLAGS" CXXFLAGS="$BUILD_CFLAGS") \
    || die "configure failed"
log "make dep"
(cd "$SRC" && run make dep) || die "make dep failed"
log "make lib (-j$JOBS)"
if ! (cd "$SRC" && run make -j"$JOBS" lib); then
    log "parallel make failed; retrying serially"
    (cd "$SRC" && run make lib) || die "make lib failed"
fi

# ---- SWIG binding -> wheel, built by the venv's own python
SWIGDIR="$SRC/pjsip-apps/src/swig/python"
log "swig (USE_THREADS=$SWIG_THREADS)"
(cd "$SWIGDIR" && run make PYTHON_EXE="$PY" USE_THREADS="$SWIG_THREADS" pjsua2_wrap.cpp) || die "swig failed"
grep -q 'SWIG_PYTHON_THREADS' "$SWIGDIR/pjsua2_wrap.cpp" || die "SWIG wrapper was generated without thread support"
log "building the wheel with $PY (compiling pjsua2_wrap.cpp takes a while)"
(cd "$SWIGDIR" && run "$PY" -m pip wheel --no-deps --disable-pip-version-check -w "$STAGE" .) \
    || die "building the pjsua2 wheel failed"
WHEEL=$(ls "$STAGE"/pjsua2-*.whl 2>/dev/null | head -n1)
[[ -n $WHEEL ]] || die "no wheel produced"

# ---- install, verify, publish to the cache
install_wheel "$WHEEL" || die "pip install of the new wheel failed"
if ! verify "${PJSUA2_VERIFY_CALLS:-1000}"; then
    "$PY" -m pip uninstall -y -q pjsua2 >&2 || true
    die "built wheel failed verification (uninstalled it again)"
fi

END=$(date +%s)
FINAL="$CACHE_ROOT/pjsua2-$PJ_VERSION-$KEY"
cat >"$STAGE/BUILD-INFO" <<EOF
pjsua2 wheel built by callvault scripts/build-pjsua2.sh (recipe $RECIPE_VERSION)
date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)
pjproject:  $PJ_VERSION
source:     $SOURCE_NOTE
source id:  $SOURCE_ID
python:     $PY_ABI ($("$PY" -c 'import sys; print(sys.version.split()[0])'))
cflags:     $BUILD_CFLAGS
swig:       $(swig -version | awk '/SWIG Version/ {print $3}') $SWIG_THREADS
configure:  ${CONFIGURE_FLAGS[*]}
build time: $((END - START)) s on $(nproc) cores
cache key:  $KEY
EOF
rm -rf "$FINAL"
mv "$STAGE" "$FINAL"
trap - EXIT
[[ ${PJSUA2_KEEP_BUILD:-0} == 1 ]] || rm -rf "$WORK"
rm -f "$CACHE_ROOT/last-failed-build.log"
log "cached in $FINAL"
log "done: built in $((END - START)) s"
