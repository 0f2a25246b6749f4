# bash with subshells, pipes, command substitution and functions.
count() { local n=0; while read -r _; do n=$((n + 1)); done; echo "$n"; }
total=0
for i in $(seq 1 60); do
  words=$(echo "alpha beta gamma $i" | tr ' ' '\n' | sort | count)
  total=$((total + words))
  ( x=$((i * 2)); echo "$x" ) >/dev/null
  arr=()
  for j in $(seq 1 20); do arr+=("item$j-$i"); done
  joined="${arr[*]}"
  total=$((total + ${#joined}))
done
echo "$total"
