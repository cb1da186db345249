"""Auto-tuning: task extraction, the MetaSchedule tuner, record stores and applying records.

`store` and `records` read and write MetaSchedule JSON databases as plain JSON lines (no TVM
needed); `database` turns validated lines into TVM databases; `tasks` extracts the tuning
tasks after the same phases `ember compile` runs; `tuner` drives MetaSchedule; `apply`
puts records into a compile.
"""
