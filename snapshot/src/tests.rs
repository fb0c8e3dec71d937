use super::*;
use alloc::string::ToString;
use alloc::vec;

fn valid_for() -> ValidFor {
    ValidFor {
        ir: sha256(b"define i32 @main() { ret i32 0 }"),
        app_host: sha256(b"printf 0x1000"),
        abi: 4,
        llvm: "19.1.7".to_string(),
        cpu: 0x1234_5678_9abc_def0,
    }
}

fn layout() -> Layout {
    Layout {
        code: 0x4004_0000..0x4040_0000,
        globals: 0x5002_0000..0x5002_0040,
        unit_data: 0x5002_0040..0x5040_0000,
        functions: 3,
    }
}

fn sample(generation: u64) -> Snapshot {
    Snapshot {
        valid_for: valid_for(),
        generation,
        code: Placed {
            base: 0x4004_0000,
            bytes: vec![0xC3; 300],
        },
        unit_data: Placed {
            base: 0x5002_0040,
            bytes: vec![7; 16],
        },
        globals: Placed {
            base: 0x5002_0000,
            bytes: (0..64).collect(),
        },
        functions: vec![
            Function {
                level: Some(3),
                entry: 0x4004_0000,
                calls: 1,
                backedges: 5000,
            },
            Function {
                level: None,
                entry: 0,
                calls: 2,
                backedges: 0,
            },
            Function {
                level: Some(1),
                entry: 0x4004_0100,
                calls: 150,
                backedges: 0,
            },
        ],
    }
}

#[test]
fn a_snapshot_round_trips_and_passes_its_checks() {
    let s = sample(1);
    let file = encode(&s);
    assert_eq!(decode(&file), Ok(s.clone()));
    assert_eq!(s.check(&valid_for(), &layout()), Ok(()));
    // A file system may leave bytes after the body.
    let mut padded = file.clone();
    padded.extend_from_slice(&[0; 512]);
    assert_eq!(decode(&padded), Ok(s));
}

#[test]
fn a_cut_short_file_is_refused_at_every_length() {
    let file = encode(&sample(1));
    for len in 0..file.len() {
        let got = decode(&file[..len]);
        assert!(
            matches!(got, Err(Refusal::Truncated { .. })),
            "{len} bytes: {got:?}"
        );
    }
}

#[test]
fn any_damaged_byte_is_refused() {
    let file = encode(&sample(1));
    for at in 0..file.len() {
        let mut bad = file.clone();
        bad[at] ^= 0x10;
        assert!(decode(&bad).is_err(), "a flipped bit at {at} was accepted");
    }
    let mut bad = file.clone();
    bad[HEADER_BYTES + 3] ^= 1;
    assert_eq!(decode(&bad), Err(Refusal::Checksum));
    bad = file.clone();
    bad[8] = 9;
    assert_eq!(decode(&bad), Err(Refusal::Version(9)));
    bad = file.clone();
    bad[0] = b'X';
    assert_eq!(decode(&bad), Err(Refusal::BadMagic));
    bad = file;
    bad[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(decode(&bad), Err(Refusal::TooLarge(u64::MAX)));
}

#[test]
fn a_stale_snapshot_names_what_changed() {
    let s = sample(1);
    type Change = fn(&mut ValidFor);
    let cases: [(Change, Stale); 5] = [
        (|v| v.ir[0] ^= 1, Stale::Ir),
        (|v| v.app_host[31] ^= 1, Stale::AppHost),
        (|v| v.abi += 1, Stale::Abi),
        (|v| v.llvm = "20.1.0".to_string(), Stale::Llvm),
        (|v| v.cpu ^= 1 << 28, Stale::Cpu),
    ];
    for (change, which) in cases {
        let mut expect = valid_for();
        change(&mut expect);
        let refusal = s.check(&expect, &layout()).unwrap_err();
        assert_eq!(refusal, Refusal::Stale(which));
        assert!(refusal.to_string().starts_with("stale: "));
    }
}

#[test]
fn addresses_outside_the_layout_are_refused() {
    let cases: [fn(&mut Snapshot); 8] = [
        |s| s.code.base = 0x4000_0000,
        |s| s.code.base = u64::MAX - 10,
        |s| s.unit_data.base = 0x5002_0000,
        |s| s.globals.base += 8,
        |s| s.globals.bytes.pop().map_or((), drop),
        |s| s.functions[0].entry = 0x4004_0000 + 300,
        |s| s.functions[1].entry = 0x4004_0000,
        |s| s.functions[2].level = Some(4),
    ];
    for (i, change) in cases.iter().enumerate() {
        let mut s = sample(1);
        change(&mut s);
        let got = s.check(&valid_for(), &layout());
        assert!(
            matches!(got, Err(Refusal::OutOfRange(_))),
            "case {i}: {got:?}"
        );
    }
    let mut s = sample(1);
    s.functions.pop();
    assert!(s.check(&valid_for(), &layout()).is_err());
}

#[test]
fn the_newest_valid_generation_wins_and_a_torn_write_never_does() {
    let (old, new) = (encode(&sample(4)), encode(&sample(5)));
    let expect = valid_for();
    let pick = |a: Option<&[u8]>, b: Option<&[u8]>| choose([a, b], &expect, &layout());

    let c = pick(Some(&old), Some(&new));
    assert_eq!(
        c.chosen.as_ref().map(|(slot, s)| (*slot, s.generation)),
        Some((1, 5))
    );
    assert!(c.refused.is_empty());
    // The next write goes over the older one.
    assert_eq!(next_write(&c), (0, 6));

    // The newest torn half-way: the older one is used, and the next write
    // replaces the torn one.
    let torn = &new[..new.len() / 2];
    let c = pick(Some(&old), Some(torn));
    assert_eq!(
        c.chosen.as_ref().map(|(slot, s)| (*slot, s.generation)),
        Some((0, 4))
    );
    assert!(matches!(c.refused[..], [(1, Refusal::Truncated { .. })]));
    assert_eq!(next_write(&c), (1, 5));

    // Nothing usable: start at slot 0, generation 1.
    let c = pick(None, Some(torn));
    assert!(c.chosen.is_none());
    assert_eq!(next_write(&c), (0, 1));
    let c = pick(None, None);
    assert!(c.chosen.is_none() && c.refused.is_empty());
    assert_eq!(next_write(&c), (0, 1));

    // A stale newer generation (another build's) is refused, but the next
    // write is numbered above it and goes over the older slot.
    let mut other = valid_for();
    other.app_host[0] ^= 1;
    let stale = encode(&Snapshot {
        valid_for: other,
        ..sample(9)
    });
    let c = pick(Some(&old), Some(&stale));
    assert_eq!(c.chosen.as_ref().map(|(s, _)| *s), Some(0));
    assert_eq!(next_write(&c), (1, 10));
    let c = pick(Some(&stale), None);
    assert!(c.chosen.is_none());
    assert_eq!(next_write(&c), (1, 10));
}

#[test]
fn program_names_are_plain_file_names() {
    assert_eq!(program_name("apps/fib.c"), "fib.c");
    assert_eq!(program_name("fib.ll"), "fib.ll");
    assert_eq!(program_name("my prog!.c"), "my_prog_.c");
    assert_eq!(program_name("dir/"), "program");
    assert_eq!(program_name(".."), "program");
    assert_eq!(program_name(&"x".repeat(100)).len(), 48);
}

#[test]
fn a_capture_keeps_only_functions_whose_code_it_holds() {
    let mut t = Template {
        valid_for: valid_for(),
        globals: Placed {
            base: 0x5000_0000,
            bytes: vec![1, 2, 3, 4],
        },
        counts: vec![(10, 1), (0, 0), (5, 5)],
        path: "SNAPSHOT/fib.ll".to_string(),
        next: (1, 7),
    };
    let code = [0x90u8; 64];
    let now = Now {
        code: &code,
        code_base: 0x4001_0000,
        unit_data: &[9, 9],
        // In the code, compiled at O2; a slot past the code read (published
        // later); an interpreted one; a tier byte without code.
        slots: &[0x4001_0010, 0x4001_0040, 0x1234, 0x4001_0000],
        tiers: &[3, 2, 0, 1],
        counts: &[(1, 2), (3, 4), (5, 6), (7, 8)],
    };
    let s = t.capture(&now);
    assert_eq!(s.generation, 7);
    assert_eq!(s.code.bytes.len(), 64);
    assert_eq!(s.unit_data.base, 0x5000_0004);
    let levels: Vec<Option<u8>> = s.functions.iter().map(|f| f.level).collect();
    assert_eq!(levels, [Some(2), None, None, Some(0)]);
    assert_eq!(s.functions[0].entry, 0x4001_0010);
    assert_eq!(s.functions[1].entry, 0);
    assert_eq!((s.functions[0].calls, s.functions[0].backedges), (11, 3));
    assert_eq!((s.functions[3].calls, s.functions[3].backedges), (7, 8));
    assert_eq!(t.file(t.next.0), "SNAPSHOT/fib.ll.1");
    t.advance();
    assert_eq!(t.next, (0, 8));
    // What it captured passes the checks of a boot with the same layout.
    let layout = Layout {
        code: 0x4001_0000..0x4040_0000,
        globals: 0x5000_0000..0x5000_0004,
        unit_data: 0x5000_0004..0x5040_0000,
        functions: 4,
    };
    assert_eq!(
        decode(&encode(&s)).unwrap().check(&valid_for(), &layout),
        Ok(())
    );
}

#[test]
fn the_code_offset_points_at_the_code_in_the_file() {
    for g in [1, 300, 1 << 40] {
        let mut s = sample(g);
        s.code.bytes = (0..300u32).map(|i| (i * 7 + 1) as u8).collect();
        let file = encode(&s);
        let at = code_offset(&s);
        assert_eq!(&file[at..at + s.code.bytes.len()], &s.code.bytes[..]);
    }
}

#[test]
fn a_capture_from_the_regions_reads_and_bounds_the_jits_state() {
    use ipc_abi::proto::jit::*;
    let globals = Placed {
        base: APP_GLOBALS_BASE,
        bytes: vec![5; 24],
    };
    let t = Template {
        valid_for: valid_for(),
        globals: globals.clone(),
        counts: Vec::new(),
        path: "SNAPSHOT/p".to_string(),
        next: (0, 1),
    };
    let mut code = vec![0u8; 0x10_0000];
    let mut data = vec![0u8; 0x10_0000];
    let put = |data: &mut Vec<u8>, addr: u64, v: u64| {
        let at = (addr - APP_DATA_BASE) as usize;
        data[at..at + 8].copy_from_slice(&v.to_le_bytes());
    };
    let unit_code = (APP_UNIT_CODE_BASE - APP_CODE_BASE) as usize;
    code[unit_code..unit_code + 32].fill(0xcc);
    let globals_end = APP_GLOBALS_BASE + 24;
    put(&mut data, APP_CODE_NEXT, APP_UNIT_CODE_BASE + 32);
    put(&mut data, APP_DATA_NEXT, globals_end + 8);
    put(&mut data, slot(1), APP_UNIT_CODE_BASE + 16);
    data[(tier_byte(1) - APP_DATA_BASE) as usize] = tier_byte_value(3);
    let s = t.capture_regions(&code, &data, &[(1, 0), (9, 9)]).unwrap();
    assert_eq!(s.code.bytes, vec![0xcc; 32]);
    assert_eq!(s.unit_data.base, globals_end);
    assert_eq!(s.unit_data.bytes.len(), 8);
    assert_eq!(s.functions[0].level, None);
    assert_eq!(
        (s.functions[1].level, s.functions[1].entry),
        (Some(3), APP_UNIT_CODE_BASE + 16)
    );
    // Free space past a region, before the globals' end, or a template
    // whose globals lie elsewhere: refused, never a panic.
    put(
        &mut data,
        APP_CODE_NEXT,
        APP_CODE_BASE + code.len() as u64 + 16,
    );
    assert!(t.capture_regions(&code, &data, &[(0, 0)]).is_err());
    put(&mut data, APP_CODE_NEXT, APP_UNIT_CODE_BASE);
    put(&mut data, APP_DATA_NEXT, globals_end - 8);
    assert!(t.capture_regions(&code, &data, &[(0, 0)]).is_err());
    let elsewhere = Template {
        globals: Placed {
            base: 0x10,
            bytes: vec![0; 8],
        },
        ..t.clone()
    };
    put(&mut data, APP_DATA_NEXT, globals_end);
    assert!(elsewhere.capture_regions(&code, &data, &[(0, 0)]).is_err());
    assert!(t.capture_regions(&code, &data[..16], &[(0, 0)]).is_err());
}
