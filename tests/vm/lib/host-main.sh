#!/bin/bash
# host-main.sh - runs on the host after a guest test passed: loads the test library and the test
# script, then calls its vm_host function (which reads what the guest left in $VM_OUT).
#   host-main.sh TEST_SCRIPT
set -u
# shellcheck source=tests/vm/lib/testlib.sh
. "$P2PB_TOP/tests/vm/lib/testlib.sh"
# shellcheck disable=SC1090
. "$1"
cd "$VM_WORK" || exit 1
vm_host
