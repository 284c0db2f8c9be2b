/*
 * Test support only, never shipped: Wine 8 has no ProcessPrng in its
 * bcryptprimitives.dll, and Rust's standard library takes its random bytes
 * from there, so no Rust program starts under it. This stand-in DLL (loaded
 * with WINEDLLOVERRIDES=bcryptprimitives=n,b) provides ProcessPrng on top of
 * RtlGenRandom (advapi32's SystemFunction036), which Wine has. Windows 10
 * and later have the real one.
 *
 *   x86_64-w64-mingw32-gcc -O2 -shared -o bcryptprimitives.dll processprng.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG n = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        length -= n;
    }
    return TRUE;
}
