# Runs in the guest under bash: prints the machine's facts and each step's result on ttyS1.
exec 3>/dev/ttyS1
B=/bin/busybox
echo "BEGIN" >&3
echo "UNAME $(uname -r 2>/dev/null || $B uname -r)" >&3
echo "CMDLINE $(cat /proc/cmdline)" >&3
for d in /sys/bus/pci/devices/*; do
  n=${d##*/}
  drv=$(readlink "$d/driver"); grp=$(readlink "$d/iommu_group")
  printf 'DEV %s %s %s %s %s %s %s %s %s\n' "$n" "$(cat $d/vendor)" "$(cat $d/device)" "$(cat $d/class)" \
    "$(cat $d/revision 2>/dev/null || echo -)" "$(readlink -f $d)" "${grp##*/}" "${drv##*/}" \
    "$($B od -An -tx1 -v "$d/config" | $B tr -d ' \n')" >&3
done
for g in /sys/kernel/iommu_groups/*; do echo "GROUP ${g##*/} $(cat $g/type)" >&3; done
$B dmesg -c >/dev/null
while IFS= read -r __line; do
  case $__line in
    "#PROBE "*) echo "PROBE ${__line#\#PROBE }" >&3; continue ;;
  esac
  eval "$__line" </dev/null >/tmp/o 2>/tmp/e
  __rc=$?
  $B usleep 50000
  echo "STEP $__rc $($B base64 </tmp/o | $B tr -d '\n') $($B base64 </tmp/e | $B tr -d '\n') $($B dmesg -c | $B base64 | $B tr -d '\n')" >&3
done </steps.txt
echo "END" >&3
