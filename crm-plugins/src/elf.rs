//! Just enough ELF to tell whether a shared library defines a dynamic symbol, so the host can
//! refuse a library without the entry symbol before `dlopen` runs any of its code.

/// `Some(true)` when `image` (a 64-bit little-endian ELF file) defines the dynamic symbol
/// `name`, `Some(false)` when it does not, `None` when it is not such a file (the host then
/// relies on `dlsym`).
pub fn defines_symbol(image: &[u8], name: &str) -> Option<bool> {
    if image.len() < 64 || &image[..4] != b"\x7fELF" || image[4] != 2 || image[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| -> Option<u16> {
        image
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |o: usize| -> Option<u32> {
        image
            .get(o..o + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let u64_at = |o: usize| -> Option<usize> {
        image
            .get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .and_then(|v| usize::try_from(v).ok())
    };
    let shoff = u64_at(0x28)?;
    let shentsize = usize::from(u16_at(0x3A)?);
    let shnum = usize::from(u16_at(0x3C)?);
    if shentsize < 64 {
        return None;
    }
    let section = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    for i in 0..shnum {
        let sh = section(i)?;
        const SHT_DYNSYM: u32 = 11;
        if u32_at(sh + 4)? != SHT_DYNSYM {
            continue;
        }
        let (off, size) = (u64_at(sh + 0x18)?, u64_at(sh + 0x20)?);
        let link = u32_at(sh + 0x28)? as usize;
        let entsize = u64_at(sh + 0x38)?.max(24);
        let strsh = section(link)?;
        let (stroff, strsize) = (u64_at(strsh + 0x18)?, u64_at(strsh + 0x20)?);
        let strtab = image.get(stroff..stroff.checked_add(strsize)?)?;
        let count = size / entsize;
        for s in 0..count {
            let sym = off.checked_add(s * entsize)?;
            let st_name = u32_at(sym)? as usize;
            let st_shndx = u16_at(sym + 6)?;
            if st_shndx == 0 {
                continue; // undefined: imported, not exported
            }
            let rest = strtab.get(st_name..)?;
            let end = rest.iter().position(|&b| b == 0)?;
            if &rest[..end] == name.as_bytes() {
                return Some(true);
            }
        }
        return Some(false);
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_executable() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        if me.starts_with(b"\x7fELF") {
            assert_eq!(defines_symbol(&me, "crm_plugin_entry_v1"), Some(false));
        }
        assert_eq!(defines_symbol(b"MZ not elf", "x"), None);
        assert_eq!(defines_symbol(&[], "x"), None);
    }

    #[test]
    fn never_panics_on_damaged_files() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        if !me.starts_with(b"\x7fELF") {
            return;
        }
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300 {
            let mut copy = me[..me.len().min(1 << 20)].to_vec();
            for _ in 0..8 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let i = (rng as usize) % copy.len();
                copy[i] = (rng >> 32) as u8;
            }
            let _ = defines_symbol(&copy, "crm_plugin_entry_v1");
            let cut = (rng as usize) % copy.len();
            let _ = defines_symbol(&copy[..cut], "crm_plugin_entry_v1");
        }
    }
}
