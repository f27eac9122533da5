#!/bin/bash
# A/B 2: prototype with a separate cond for parked appenders; 64-writer rows only.
for round in 1 2 3; do
  for size in 128 1024; do for batch in 1 64; do
    r="StoreLogs/size=$size/batch=$batch/writers=64"
    /tmp/ab/base.test   -test.run '^$' -test.bench "$r/store=(lithair|raft-wal)\$" -test.benchtime 2000x | grep '^Bench' >> /tmp/ab/out/base2.txt
    /tmp/ab/proto2.test -test.run '^$' -test.bench "$r/store=lithair\$" -test.benchtime 2000x | grep '^Bench' | sed 's/store=lithair/store=lithair-proto2/' >> /tmp/ab/out/proto2.txt
  done; done
done
