//! Stage 1 — data: three sources into one internal schema, parsed and validated at the edge.
//!
//! ```text
//! NASA C-MAPSS FD001 (train/test/RUL text files) ─┐
//! AI4I 2020 (one CSV row per machine snapshot)   ─┼─► Fleet { sensors, machines: [Machine { id, kind, readings, end }] }
//! the fleet simulator (crate::simulate)           ─┘        bad rows ─► Quarantine (counted by reason)
//! ```
//!
//! A [`Machine`] is one life of one machine: its readings in cycle order and how the life
//! ended — a failure at a known cycle, or **censored** (serviced, or still running when the
//! data stops) at a cycle after which nothing is known.
//!
//! Talking points: labels come late and censored; "every machine has its own history, so
//! splits are by machine"; malformed rows are quarantined and counted, never dropped silently;
//! the AI4I failure-mode columns describe the failure itself and never become inputs.

use std::path::Path;

use mlsd_core::validate::{Quarantine, ValidationReport};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One reading of a machine: its cycle (days, flights, hours) and one value per sensor of
/// the fleet (`NaN` = missing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub cycle: u32,
    pub values: Vec<f64>,
}

/// How a machine's life ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum End {
    /// Failed at this cycle (run to failure, or a test unit's last cycle + its true RUL).
    Failed(u32),
    /// Nothing known after this cycle (serviced before failing, or still running).
    Censored(u32),
}

impl End {
    pub fn cycle(self) -> u32 {
        match self {
            End::Failed(c) | End::Censored(c) => c,
        }
    }
}

/// One life of one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// The physical machine (splits are by this id: every life of a machine on one side).
    pub id: u32,
    /// Machine type (`A`/`B`/`C` in the simulator, `L`/`M`/`H` in AI4I, `engine` in C-MAPSS).
    pub kind: String,
    pub readings: Vec<Reading>,
    pub end: End,
}

impl Machine {
    /// The true remaining life at each reading, when the life ended in a failure.
    pub fn rul(&self, reading: usize) -> Option<f64> {
        match self.end {
            End::Failed(at) => self
                .readings
                .get(reading)
                .map(|r| f64::from(at) - f64::from(r.cycle)),
            End::Censored(_) => None,
        }
    }
}

/// Machines of one source, with the names of their sensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    /// `cmapss-fd001/train`, `ai4i2020`, `simulator`, …
    pub source: String,
    pub sensors: Vec<String>,
    pub machines: Vec<Machine>,
}

impl Fleet {
    pub fn readings(&self) -> usize {
        self.machines.iter().map(|m| m.readings.len()).sum()
    }
}

/// A loaded source: the accepted machines, and what was refused.
#[derive(Debug)]
pub struct Loaded {
    pub fleet: Fleet,
    pub validation: ValidationReport,
    pub quarantine: Quarantine,
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Talking point [cleaning]: decode at the edge — a byte-order mark or Windows line ends never
    // reach the parser.
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.trim_start_matches('\u{feff}').replace('\r', ""))
}

// ---------------------------------------------------------------------------------------
// NASA C-MAPSS FD001

/// C-MAPSS column names after `unit, cycle`: three operating settings, 21 sensors.
pub fn cmapss_columns() -> Vec<String> {
    (1..=3)
        .map(|i| format!("setting_{i}"))
        .chain((1..=21).map(|i| format!("sensor_{i}")))
        .collect()
}

/// Loads `train_FD001.txt` (every engine run to failure) or `test_FD001.txt` with
/// `RUL_FD001.txt` (engines cut off before failing; their failure cycle is the last cycle plus
/// the true RUL). Lines with the wrong field count, a non-number, a non-finite value or a
/// cycle out of order are quarantined.
pub fn load_cmapss(dir: &Path, split: CmapssSplit) -> Result<Loaded> {
    let (file, rul_file) = match split {
        CmapssSplit::Train => ("train_FD001.txt", None),
        CmapssSplit::Test => ("test_FD001.txt", Some("RUL_FD001.txt")),
    };
    let path = dir.join(file);
    let text = read_text(&path)?;
    let mut quarantine = Quarantine::default();
    let mut machines: Vec<Machine> = Vec::new();
    let mut input = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        input += 1;
        let row = i as u64 + 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 26 {
            quarantine.reject(row, "wrong_field_count", line);
            continue;
        }
        let parsed: Option<Vec<f64>> = fields.iter().map(|f| f.parse::<f64>().ok()).collect();
        let Some(parsed) = parsed else {
            quarantine.reject(row, "not_a_number", line);
            continue;
        };
        if parsed.iter().any(|v| !v.is_finite()) {
            quarantine.reject(row, "non_finite_value", line);
            continue;
        }
        let (unit, cycle) = (parsed[0], parsed[1]);
        if unit < 1.0 || cycle < 1.0 || unit.fract() != 0.0 || cycle.fract() != 0.0 {
            quarantine.reject(row, "bad_unit_or_cycle", line);
            continue;
        }
        let (unit, cycle) = (unit as u32, cycle as u32);
        let values = parsed[2..].to_vec();
        match machines.last_mut() {
            Some(m) if m.id == unit => {
                let last = m.readings.last().map_or(0, |r| r.cycle);
                if cycle <= last {
                    quarantine.reject(row, "out_of_order_cycle", line);
                    continue;
                }
                m.readings.push(Reading { cycle, values });
            }
            _ => {
                if machines.iter().any(|m| m.id == unit) {
                    quarantine.reject(row, "unit_not_contiguous", line);
                    continue;
                }
                machines.push(Machine {
                    id: unit,
                    kind: "engine".into(),
                    readings: vec![Reading { cycle, values }],
                    end: End::Censored(cycle),
                });
            }
        }
    }
    let truth = match rul_file {
        Some(f) => Some(parse_rul(&dir.join(f))?),
        None => None,
    };
    for (k, m) in machines.iter_mut().enumerate() {
        let last = m.readings.last().map_or(0, |r| r.cycle);
        m.end = match &truth {
            None => End::Failed(last),
            // RUL_FD001.txt lists the test units in order, one line each.
            Some(t) => match t.get(k) {
                Some(&rul) => End::Failed(last + rul),
                None => {
                    return Err(Error::Input {
                        path: path.clone(),
                        why: format!("unit {} has no line in the RUL file", m.id),
                    })
                }
            },
        };
    }
    let accepted: usize = machines.iter().map(|m| m.readings.len()).sum();
    let validation = ValidationReport::new(input, accepted, &quarantine)?;
    Ok(Loaded {
        fleet: Fleet {
            source: format!("cmapss-fd001/{}", split.name()),
            sensors: cmapss_columns(),
            machines,
        },
        validation,
        quarantine,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmapssSplit {
    Train,
    Test,
}

impl CmapssSplit {
    fn name(self) -> &'static str {
        match self {
            CmapssSplit::Train => "train",
            CmapssSplit::Test => "test",
        }
    }
}

fn parse_rul(path: &Path) -> Result<Vec<u32>> {
    read_text(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim().parse::<u32>().map_err(|_| Error::Input {
                path: path.to_path_buf(),
                why: format!("{l:?} is not a whole number of cycles"),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// AI4I 2020

/// The AI4I inputs, in this order: the only columns a model may see.
pub const AI4I_SENSORS: [&str; 5] = [
    "air_temperature_k",
    "process_temperature_k",
    "rotational_speed_rpm",
    "torque_nm",
    "tool_wear_min",
];

/// The failure-mode columns: they describe the failure itself (which mechanism fired), so
/// they are kept out of the fleet and never become model inputs.
pub const AI4I_FAILURE_MODES: [&str; 5] = ["TWF", "HDF", "PWF", "OSF", "RNF"];

/// AI4I 2020: every row is one machine snapshot with one reading (cycle = tool wear) whose
/// life ends `Failed` when "Machine failure" is 1, else `Censored`. The failure modes come
/// back beside the fleet, row-aligned, for analysis and the leak guard only.
pub struct Ai4i {
    pub loaded: Loaded,
    pub failure_modes: Vec<[bool; 5]>,
}

/// Loads `ai4i2020.csv`; rows with the wrong field count, a non-number, an unknown type or a
/// physically impossible value are quarantined.
pub fn load_ai4i(path: &Path) -> Result<Ai4i> {
    let text = read_text(path)?;
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, h)| h).unwrap_or_default();
    if !header.starts_with("UDI,Product ID,Type") {
        return Err(Error::Input {
            path: path.to_path_buf(),
            why: format!("unexpected header {header:?}"),
        });
    }
    let (mut quarantine, mut machines, mut modes, mut input) =
        (Quarantine::default(), Vec::new(), Vec::new(), 0);
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        input += 1;
        match parse_ai4i_row(line) {
            Ok((machine, m)) => {
                machines.push(machine);
                modes.push(m);
            }
            Err(reason) => quarantine.reject(i as u64, reason, line),
        }
    }
    let validation = ValidationReport::new(input, machines.len(), &quarantine)?;
    Ok(Ai4i {
        loaded: Loaded {
            fleet: Fleet {
                source: "ai4i2020".into(),
                sensors: AI4I_SENSORS.iter().map(|s| s.to_string()).collect(),
                machines,
            },
            validation,
            quarantine,
        },
        failure_modes: modes,
    })
}

fn parse_ai4i_row(line: &str) -> std::result::Result<(Machine, [bool; 5]), &'static str> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() != 14 {
        return Err("wrong_field_count");
    }
    let id: u32 = f[0].parse().map_err(|_| "not_a_number")?;
    let kind = f[2];
    if !matches!(kind, "L" | "M" | "H") {
        return Err("unknown_type");
    }
    let num = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite());
    let values: Option<Vec<f64>> = f[3..8].iter().map(|s| num(s)).collect();
    let values = values.ok_or("not_a_number")?;
    let plausible = (250.0..400.0).contains(&values[0])
        && (250.0..400.0).contains(&values[1])
        && (0.0..10_000.0).contains(&values[2])
        && (0.0..500.0).contains(&values[3])
        && (0.0..1_000.0).contains(&values[4]);
    if !plausible {
        return Err("impossible_value");
    }
    let flag = |s: &str| match s {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err("bad_flag"),
    };
    let failed = flag(f[8])?;
    let mut modes = [false; 5];
    for (k, m) in modes.iter_mut().enumerate() {
        *m = flag(f[9 + k])?;
    }
    let cycle = values[4] as u32;
    Ok((
        Machine {
            id,
            kind: kind.to_string(),
            readings: vec![Reading { cycle, values }],
            end: if failed {
                End::Failed(cycle)
            } else {
                End::Censored(cycle)
            },
        },
        modes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmapss_lines_with_trailing_spaces_parse_and_bad_lines_are_quarantined() {
        let dir = tempfile::tempdir().expect("tempdir");
        let row = |unit: u32, cycle: u32| {
            let mut s = format!("{unit} {cycle} ");
            for k in 0..24 {
                s.push_str(&format!("{}.5 ", k + cycle as usize));
            }
            s + " \n"
        };
        let mut text = row(1, 1) + &row(1, 2) + &row(1, 2) + &row(2, 1);
        text.push_str("2 2 x\n");
        text.push_str(&row(2, 2).replace(" 3.5 ", " nan "));
        text.push_str(&row(2, 3));
        std::fs::write(dir.path().join("train_FD001.txt"), text).expect("write");
        let loaded = load_cmapss(dir.path(), CmapssSplit::Train).expect("load");
        let counts = loaded.quarantine.counts_by_reason();
        assert_eq!(counts["out_of_order_cycle"], 1);
        assert_eq!(counts["wrong_field_count"], 1);
        assert_eq!(counts["non_finite_value"], 1);
        assert_eq!(loaded.validation.input_rows, 7);
        assert_eq!(loaded.fleet.machines.len(), 2);
        assert_eq!(loaded.fleet.machines[1].end, End::Failed(3));
        assert_eq!(loaded.fleet.machines[0].rul(0), Some(1.0));
    }

    #[test]
    fn ai4i_rows_keep_the_failure_modes_out_of_the_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ai4i2020.csv");
        let text = "\u{feff}UDI,Product ID,Type,Air temperature [K],Process temperature [K],Rotational speed [rpm],Torque [Nm],Tool wear [min],Machine failure,TWF,HDF,PWF,OSF,RNF\r\n\
                    1,M1,M,298.1,308.6,1551,42.8,0,0,0,0,0,0,0\r\n\
                    2,L2,L,298.2,308.7,1408,46.3,3,1,0,1,0,0,0\r\n\
                    3,L3,X,298.2,308.7,1408,46.3,3,0,0,0,0,0,0\r\n\
                    4,L4,L,298.2,-5,1408,46.3,3,0,0,0,0,0,0\r\n";
        std::fs::write(&path, text).expect("write");
        let ai4i = load_ai4i(&path).expect("load");
        let fleet = &ai4i.loaded.fleet;
        assert_eq!(fleet.machines.len(), 2);
        assert_eq!(fleet.sensors.len(), 5);
        assert!(fleet
            .machines
            .iter()
            .all(|m| m.readings[0].values.len() == 5));
        assert_eq!(fleet.machines[1].end, End::Failed(3));
        assert_eq!(ai4i.failure_modes[1], [false, true, false, false, false]);
        let counts = ai4i.loaded.quarantine.counts_by_reason();
        assert_eq!(counts["unknown_type"], 1);
        assert_eq!(counts["impossible_value"], 1);
    }
}
