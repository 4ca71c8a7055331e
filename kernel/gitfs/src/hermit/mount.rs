//! The kernel side of a mount: the C-ABI table that the patched kernel's VFS calls
//! (`src/fs/appfs.rs` of the kernel source, added by
//! `kernel/hermit-build/patches/05-app-file-systems.patch`), forwarding to a
//! [`Volume`].

use core::ffi::{c_char, c_void};
use std::ffi::CString;

use gitfs_format::BlockDevice;
use hermit_abi::stat;

use crate::volume::{Attr, Volume};

/// The table layout this crate was written for; the kernel refuses another.
const ABI_VERSION: u32 = 1;

type Emit = unsafe extern "C" fn(sink: *mut c_void, name: *const u8, len: usize, d_type: u8);

/// The same layout as the kernel's `AppFsOps`.
#[repr(C)]
struct Ops {
    abi_version: u32,
    ctx: *mut c_void,
    stat: unsafe extern "C" fn(*mut c_void, *const u8, usize, i32, *mut stat) -> i32,
    open: unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut u64) -> i32,
    read: unsafe extern "C" fn(*mut c_void, u64, u64, *mut u8, usize) -> isize,
    fstat: unsafe extern "C" fn(*mut c_void, u64, *mut stat) -> i32,
    close: unsafe extern "C" fn(*mut c_void, u64),
    readdir: unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut c_void, Emit) -> i32,
}

extern "C" {
    /// Added to the kernel by the patch above; returns 0 or a negative errno.
    fn sys_mount_appfs(path: *const c_char, ops: *const Ops) -> i32;
}

/// Mounts `volume` at `path` for the rest of the program. Returns the kernel's errno on
/// failure.
pub fn mount<D: BlockDevice + Send + 'static>(
    path: &str,
    volume: &'static Volume<D>,
) -> Result<(), i32> {
    let c_path = CString::new(path).map_err(|_| hermit_abi::errno::EINVAL)?;
    let ops = Ops {
        abi_version: ABI_VERSION,
        ctx: (volume as *const Volume<D>).cast_mut().cast(),
        stat: stat_fn::<D>,
        open: open_fn::<D>,
        read: read_fn::<D>,
        fstat: fstat_fn::<D>,
        close: close_fn::<D>,
        readdir: readdir_fn::<D>,
    };
    // SAFETY: a NUL-terminated path and a table whose functions match the kernel's
    // declarations; the kernel copies the table; `ctx` is a `'static` volume.
    let ret = unsafe { sys_mount_appfs(c_path.as_ptr(), &ops) };
    if ret < 0 {
        Err(-ret)
    } else {
        Ok(())
    }
}

/// # Safety
/// `ctx` is the `&'static Volume<D>` given to [`mount`].
unsafe fn volume<'a, D: BlockDevice>(ctx: *mut c_void) -> &'a Volume<D> {
    unsafe { &*ctx.cast::<Volume<D>>() }
}

/// # Safety
/// `path` points to `len` readable bytes (or `len` is 0).
unsafe fn bytes<'a>(path: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        unsafe { core::slice::from_raw_parts(path, len) }
    }
}

fn to_stat(a: &Attr) -> stat {
    let t = hermit_abi::timespec {
        tv_sec: i64::try_from(a.mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    stat {
        st_ino: a.ino,
        st_nlink: 1,
        st_mode: a.mode,
        st_size: i64::try_from(a.size).unwrap_or(i64::MAX),
        st_blksize: 4096,
        st_blocks: i64::try_from(a.size.div_ceil(512)).unwrap_or(i64::MAX),
        st_atim: t,
        st_mtim: t,
        st_ctim: t,
        ..stat::default()
    }
}

unsafe extern "C" fn stat_fn<D: BlockDevice>(
    ctx: *mut c_void,
    path: *const u8,
    len: usize,
    follow: i32,
    out: *mut stat,
) -> i32 {
    // SAFETY: the kernel passes what `Ops` declares.
    let (v, path) = unsafe { (volume::<D>(ctx), bytes(path, len)) };
    match v.stat(path, follow != 0) {
        Ok(a) => {
            // SAFETY: `out` is the kernel's writable attribute buffer.
            unsafe { out.write(to_stat(&a)) };
            0
        }
        Err(e) => -e,
    }
}

unsafe extern "C" fn open_fn<D: BlockDevice>(
    ctx: *mut c_void,
    path: *const u8,
    len: usize,
    handle: *mut u64,
) -> i32 {
    // SAFETY: as above.
    let (v, path) = unsafe { (volume::<D>(ctx), bytes(path, len)) };
    match v.open(path) {
        Ok(h) => {
            // SAFETY: `handle` is writable.
            unsafe { handle.write(h) };
            0
        }
        Err(e) => -e,
    }
}

unsafe extern "C" fn read_fn<D: BlockDevice>(
    ctx: *mut c_void,
    handle: u64,
    offset: u64,
    buf: *mut u8,
    len: usize,
) -> isize {
    // SAFETY: as above; `buf` is writable for `len` bytes.
    let (v, buf) = unsafe {
        let buf: &mut [u8] = if len == 0 {
            &mut []
        } else {
            core::slice::from_raw_parts_mut(buf, len)
        };
        (volume::<D>(ctx), buf)
    };
    match v.read(handle, offset, buf) {
        Ok(n) => n as isize,
        Err(e) => -(e as isize),
    }
}

unsafe extern "C" fn fstat_fn<D: BlockDevice>(ctx: *mut c_void, handle: u64, out: *mut stat) -> i32 {
    // SAFETY: as above.
    let v = unsafe { volume::<D>(ctx) };
    match v.fstat(handle) {
        Ok(a) => {
            // SAFETY: as in `stat_fn`.
            unsafe { out.write(to_stat(&a)) };
            0
        }
        Err(e) => -e,
    }
}

unsafe extern "C" fn close_fn<D: BlockDevice>(ctx: *mut c_void, handle: u64) {
    // SAFETY: as above.
    unsafe { volume::<D>(ctx) }.close(handle);
}

unsafe extern "C" fn readdir_fn<D: BlockDevice>(
    ctx: *mut c_void,
    path: *const u8,
    len: usize,
    sink: *mut c_void,
    emit: Emit,
) -> i32 {
    // SAFETY: as above.
    let (v, path) = unsafe { (volume::<D>(ctx), bytes(path, len)) };
    match v.read_dir(path) {
        Ok(entries) => {
            for e in &entries {
                // SAFETY: the kernel's callback with the sink it gave.
                unsafe { emit(sink, e.name.as_ptr(), e.name.len(), e.d_type) };
            }
            0
        }
        Err(e) => -e,
    }
}
