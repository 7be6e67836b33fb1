(module
  (memory (export "memory") 1)
  ;; Sum over n words at ptr of imul(word ^ key_i, M), key_i = k0 + i*G.
  (func (export "sum") (param $ptr i32) (param $n i32) (param $k0 i32) (result i32)
    (local $kv v128) (local $kv2 v128) (local $step v128) (local $m v128)
    (local $acc v128) (local $acc2 v128) (local $end i32) (local $i i32) (local $k i32) (local $s i32)
    (local.set $m (i32x4.splat (i32.const 0x85ebca77)))
    (local.set $step (i32x4.splat (i32.mul (i32.const 8) (i32.const 0x9e3779b1))))
    (local.set $kv (i32x4.replace_lane 3
      (i32x4.replace_lane 2
        (i32x4.replace_lane 1 (i32x4.splat (local.get $k0)) (i32.add (local.get $k0) (i32.const 0x9e3779b1)))
        (i32.add (local.get $k0) (i32.mul (i32.const 2) (i32.const 0x9e3779b1))))
      (i32.add (local.get $k0) (i32.mul (i32.const 3) (i32.const 0x9e3779b1)))))
    (local.set $kv2 (i32x4.add (local.get $kv) (i32x4.splat (i32.mul (i32.const 4) (i32.const 0x9e3779b1)))))
    (local.set $end (i32.add (local.get $ptr) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $ptr) (local.get $end)))
        (local.set $acc (i32x4.add (local.get $acc)
          (i32x4.mul (v128.xor (v128.load align=1 (local.get $ptr)) (local.get $kv)) (local.get $m))))
        (local.set $acc2 (i32x4.add (local.get $acc2)
          (i32x4.mul (v128.xor (v128.load offset=16 align=1 (local.get $ptr)) (local.get $kv2)) (local.get $m))))
        (local.set $kv (i32x4.add (local.get $kv) (local.get $step)))
        (local.set $kv2 (i32x4.add (local.get $kv2) (local.get $step)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 32)))
        (br $loop)))
    (local.set $acc (i32x4.add (local.get $acc) (local.get $acc2)))
    (local.set $s (i32.add (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
                           (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
    ;; the remaining n % 8 words, one by one
    (local.set $k (i32x4.extract_lane 0 (local.get $kv)))
    (local.set $i (i32.and (local.get $n) (i32.const 7)))
    (block $tdone
      (loop $tail
        (br_if $tdone (i32.eqz (local.get $i)))
        (local.set $s (i32.add (local.get $s) (i32.mul (i32.xor (i32.load align=1 (local.get $ptr)) (local.get $k)) (i32.const 0x85ebca77))))
        (local.set $k (i32.add (local.get $k) (i32.const 0x9e3779b1)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 4)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $tail)))
    (local.get $s))
)
