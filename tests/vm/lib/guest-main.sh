#!/bin/bash
# guest-main.sh - runs inside the guest (chrooted into the host's root): loads the test library and
# one test script, then calls its vm_guest function. Exit status: the test's (77: skipped).
#   guest-main.sh TEST_SCRIPT
set -u
# shellcheck source=tests/vm/lib/testlib.sh
. "$P2PB_TOP/tests/vm/lib/testlib.sh"
# shellcheck disable=SC1090
. "$1"
cd "$VM_WORK" || exit 1
vm_guest
