#!/bin/bash
# A/B: base (log/ as is) vs proto (preallocated segments + reorder wait), raft-wal beside.
for round in 1 2 3; do
  for size in 128 1024; do for batch in 1 64; do for writers in 1 64; do
    r="StoreLogs/size=$size/batch=$batch/writers=$writers"
    /tmp/ab/base.test  -test.run '^$' -test.bench "$r/store=(lithair|raft-wal)\$" -test.benchtime 2000x | grep '^Bench' >> /tmp/ab/out/base.txt
    /tmp/ab/proto.test -test.run '^$' -test.bench "$r/store=lithair\$" -test.benchtime 2000x | grep '^Bench' | sed 's/store=lithair/store=lithair-proto/' >> /tmp/ab/out/proto.txt
  done; done; done
done
