#!/bin/sh
# test_train_smoke.sh - digits-train end to end on a slice of MNIST.
#
# A short lenet5 run (10000 training images, 2 epochs, 2 threads, about 5
# seconds; it beats mlp at this budget, ~97 % against ~94 %) must beat 95 %
# on the 10000 MNIST test images and write the model file, card and
# plots.  The same run repeated gives a byte-identical model file (the file
# holds no wall-clock value: dates and timings are in the card only), and
# so does a run stopped after 200 steps (--stop-after, the Ctrl-C path) and
# resumed from its checkpoint, and one really interrupted with SIGINT.
# Also: --eval, and the error when the data are missing.  Needs MNIST.
. "$top_srcdir/tests/tap.sh"

train="$top_builddir/train/digits-train"
data="${DIGITS_MNIST_DIR:-$top_builddir/data/mnist}"
if [ ! -e "$data/train-images-idx3-ubyte" ] && [ ! -e "$data/train-images-idx3-ubyte.gz" ]; then
	skip_all "MNIST not in $data (run make data)"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/digits-train-smoke.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp" || exit 1
mkdir a b c d e

# Every run writes m.model in its own directory with the same options.
# Call as "(train_in DIR ...)" or "train_in DIR ... &": either way it runs
# in a subshell, and exec makes $! of the second form digits-train itself.
train_in() {
	cd "$1" || exit 1
	shift
	exec "$train" --model lenet5 --epochs 2 --limit 12000 --val 2000 --threads 2 --seed 7 \
		--lr 0.004 --data "$data" --out m.model "$@" >out.txt 2>err.txt
}

(train_in a --quiet)
is "$?" 0 "training run exits 0"
acc=$(sed -n 's/^test: accuracy \([0-9.]*\)%.*/\1/p' a/out.txt)
diag "lenet5, 10000 images, 2 epochs: test accuracy $acc%"
ok_cmd "test accuracy ${acc:-?}% beats 95%" awk "BEGIN { exit !(${acc:-0} > 95) }"
for f in m.model m.card.json m.curves.png m.confusion.png; do
	ok_cmd "writes $f" test -s "a/$f"
done
is "$(head -c 8 a/m.curves.png | od -An -c | tr -d ' ')" '211PNG\r\n032\n' "curves are a PNG"
is "$(head -c 8 a/m.confusion.png | od -An -c | tr -d ' ')" '211PNG\r\n032\n' "confusion is a PNG"
ok_cmd "card records the test accuracy and a date" \
	grep -q '"test_accuracy"' a/m.card.json
ok_cmd "card has the date" grep -q '"date": "20[0-9-]*T[0-9:]*Z"' a/m.card.json
ok_cmd "model file holds no date" sh -c '! grep -q "\"date\"" a/m.model'

"$train" --eval a/m.model --data "$data" >eval.txt 2>&1
is "$?" 0 "--eval exits 0"
is "$(grep '^test:' eval.txt)" "$(grep '^test:' a/out.txt)" "--eval measures what training reported"

(train_in b --quiet)
is "$?" 0 "second run exits 0"
ok_cmd "same seed and threads: byte-identical model file" cmp a/m.model b/m.model

(train_in c --quiet --stop-after 200)
is "$?" 130 "--stop-after stops with status 130"
ok_cmd "stopping writes a checkpoint" test -s c/m.model.ckpt
ok_cmd "stopping writes no model" test ! -e c/m.model
size=$(wc -c <c/m.model.ckpt)
head -c $((size / 2)) c/m.model.ckpt >half.ckpt
"$train" --resume half.ckpt --data "$data" >/dev/null 2>err.txt
is "$?" 1 "a truncated checkpoint is refused"
is "$(cat err.txt)" "digits-train: half.ckpt: checksum mismatch (truncated or corrupt)" \
	"... with a message naming it"
(cd c && "$train" --resume m.model.ckpt --quiet --data "$data" >out2.txt 2>err2.txt)
is "$?" 0 "--resume finishes the run"
ok_cmd "resumed run: byte-identical model file" cmp a/m.model c/m.model
ok_cmd "the checkpoint is removed at the end" test ! -e c/m.model.ckpt

# A real Ctrl-C: the checkpoint after epoch 1 tells us training is under
# way; if the run finishes before the signal lands it exits 0 instead.
train_in d --quiet &
pid=$!
i=0
while [ ! -e d/m.model.ckpt ] && [ $i -lt 600 ] && kill -0 $pid 2>/dev/null; do
	sleep 0.05
	i=$((i + 1))
done
kill -INT $pid 2>/dev/null
wait $pid
st=$?
diag "SIGINT run exited $st"
ok_cmd "SIGINT: exits 130 (or 0 if it had finished)" test "$st" -eq 130 -o "$st" -eq 0
if [ "$st" -eq 130 ]; then
	(cd d && "$train" --resume m.model.ckpt --quiet --data "$data" >/dev/null 2>&1)
fi
ok_cmd "SIGINT and resume: byte-identical model file" cmp a/m.model d/m.model

# The engine's results do not depend on the thread count, so neither do the
# weights; only the header (which records --threads) differs.
(train_in e --quiet --threads 1)
is "$?" 0 "one-thread run exits 0"
weights() { # the float32 weights: the last 4 * n_params bytes before the CRC
	n=$(grep -ao '"n_params":[0-9]*' "$1" | head -n 1 | cut -d: -f2)
	tail -c $((4 * n + 4)) "$1" | head -c $((4 * n))
}
weights a/m.model >a/weights
weights e/m.model >e/weights
ok_cmd "1 and 2 threads: byte-identical weights" cmp a/weights e/weights
ok_cmd "the weights are not empty" test "$(wc -c <a/weights)" -eq 246824

# The option table: --help lists it, and it says which options a
# checkpoint fixes (refused with --eval and --resume; --threads is not one).
"$train" --help >help.txt 2>&1
is "$?" 0 "--help exits 0"
is "$(grep -c '^  --' help.txt)" 23 "--help lists the 23 options"
is "$(grep -- '--stop-after' help.txt)" \
	"  --stop-after N      checkpoint and stop after N steps, as on Ctrl-C" "... aligned"
# Photo artefacts in training: recorded in the model, bounded.
mkdir f
(train_in f --quiet --augment --artefacts 0.5)
is "$?" 0 "--augment --artefacts 0.5: training exits 0"
ok_cmd "the model records the artefacts' probability" \
	grep -q '"artefacts_probability":0.5' f/m.model
ok_cmd "and its command, which reproduces it, names --artefacts 0.5" \
	grep -q '"command":"digits-train [^"]* --artefacts 0.5[ "]' f/m.model
"$train" --artefacts 1.5 >/dev/null 2>err.txt
is "$?" 2 "--artefacts 1.5: usage error"
"$train" --eval a/m.model --epochs 3 >/dev/null 2>err.txt
is "$?" 2 "--eval with a training option: usage error"
"$train" --fit-confidence a/m.model --epochs 3 >/dev/null 2>err.txt
is "$?" 2 "--fit-confidence with a training option: usage error"
"$train" --fit-reading a/m.model --epochs 3 >/dev/null 2>err.txt
is "$?" 2 "--fit-reading with a training option: usage error"
"$train" --fit-reading a/m.model --data "$data" >/dev/null 2>err.txt
is "$?" 1 "--fit-reading without --fit-confidence first: refused"
ok_cmd "... saying why" grep -q 'a/m.model: no not-a-digit head to read' err.txt
"$train" --quantize a/m.model --epochs 3 >/dev/null 2>err.txt
is "$?" 2 "--quantize with a training option: usage error"
"$train" --calibrate 10 >/dev/null 2>err.txt
is "$?" 2 "--calibrate without --quantize: usage error"
"$train" --quantize a/m.model --calibrate 200 --out q.model --data "$data" >q.txt 2>&1
is "$?" 0 "--quantize --calibrate 200 --out q.model"
ok_cmd "--quantize reports float and int8 test accuracy" \
	grep -q '^MNIST test accuracy: float [0-9.]*% ([0-9]* / 10000), int8 [0-9.]*%' q.txt
"$train" --eval q.model --data "$data" >q.txt 2>&1
ok_cmd "the int8 model loads and evaluates" grep -q '^test: accuracy' q.txt
"$train" --resume half.ckpt --lr 0.1 >/dev/null 2>err.txt
is "$(head -n 1 err.txt)" \
	"digits-train: --resume continues a run as it was configured; --lr cannot change" \
	"--resume names the training option it refuses"
"$train" --eval a/m.model --threads 1 --data "$data" >/dev/null 2>&1
is "$?" 0 "--threads is not a training option: --eval takes it"

"$train" --model lenet5 --data "$tmp/nowhere" --out x.model >/dev/null 2>err.txt
is "$?" 1 "missing data: exit status 1"
ok_cmd "missing data: says to run make data" grep -q "run 'make data'" err.txt

tap_done
