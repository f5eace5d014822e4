using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Cdp.Server.Journal;

/// <summary>
/// AES-256-GCM under a different key for every call: the cipher behind <see cref="SealedEntry"/>,
/// where each journal entry is sealed under the key of its own profile.
/// </summary>
/// <remarks>
/// .NET's <see cref="AesGcm"/> binds one key for its lifetime, and setting one up through its OpenSSL
/// binding (a cipher context, a provider lookup by name, error-queue housekeeping) cost 1.3-1.6 us,
/// more than sealing the entry. With writes spread over many profiles no cache of those objects hits,
/// so under a track load it was a fifth of the server's CPU. On Linux this type instead keeps one
/// OpenSSL 3 context and one fetched cipher and re-keys the context per call (<c>EVP_CipherInit_ex</c>
/// with the cipher left as it is only runs the AES key schedule). It is the same AES-256-GCM with a
/// 12-byte nonce and 16-byte tag, so what one path seals the other opens. Where libcrypto 3 is not
/// found (other systems) it falls back to an <see cref="AesGcm"/> per call. One instance is used by
/// one thread at a time.
/// </remarks>
public sealed unsafe class EntryCipher : IDisposable
{
    const int KeyBytes = 32;
    const int NonceBytes = 12;
    const int TagBytes = 16;
    const int CtrlGcmGetTag = 0x10;
    const int CtrlGcmSetTag = 0x11;

    nint context;

    /// <summary>A cipher over OpenSSL when this system has libcrypto 3, else over <see cref="AesGcm"/>.</summary>
    public EntryCipher() : this(preferNative: true) { }

    EntryCipher(bool preferNative)
    {
        if (!preferNative || OpenSsl.Instance is not { } ssl)
            return;
        nint ctx = ssl.NewContext();
        if (ctx == 0)
            throw new CryptographicException("OpenSSL could not allocate a cipher context.");
        // Bound to the cipher once, without a key: every call after this only sets key and nonce.
        // Should OpenSSL refuse, this instance simply takes the AesGcm path.
        if (ssl.CipherInit(ctx, ssl.Cipher, 0, null, null, 1) != 1)
        {
            ssl.FreeContext(ctx);
            ssl.ClearErrors();
            return;
        }
        context = ctx;
    }

    /// <summary>A cipher that always goes through <see cref="AesGcm"/> (the fallback; tests check both agree).</summary>
    internal static EntryCipher CreateManaged() => new(preferNative: false);

    /// <summary>True when calls go straight to OpenSSL (and the cipher is not disposed).</summary>
    public bool IsNative => context is not (0 or Disposed);

    const nint Disposed = -1;

    /// <summary>
    /// An all-zero key the context is left holding after every call: its key schedule would otherwise
    /// keep the last profile's key in memory until the next call, even after that profile was erased.
    /// </summary>
    static readonly byte[] NoKey = new byte[KeyBytes];

    /// <summary>One cipher per thread for the readers that have no session of their own (replay, history, tests).</summary>
    [ThreadStatic] static EntryCipher? threadCipher;

    /// <summary>This thread's cipher.</summary>
    public static EntryCipher ForThread => threadCipher ??= new EntryCipher();

    /// <summary>Encrypts <paramref name="plain"/> into <paramref name="cipherText"/> (same length) and writes the tag.</summary>
    public void Encrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plain, Span<byte> cipherText, Span<byte> tag, ReadOnlySpan<byte> associated)
        => Encrypt(key, nonce, plain, cipherText, tag, associated, forget: true);

    /// <summary>
    /// As <see cref="Encrypt(ReadOnlySpan{byte}, ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte}, Span{byte}, ReadOnlySpan{byte})"/>,
    /// but leaves <paramref name="key"/>'s schedule in the context until the next call or <see cref="Forget()"/>:
    /// for a caller sealing a run of entries, which forgets once after the run instead of after each entry.
    /// </summary>
    public void EncryptKeepingKey(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plain, Span<byte> cipherText, Span<byte> tag, ReadOnlySpan<byte> associated)
        => Encrypt(key, nonce, plain, cipherText, tag, associated, forget: false);

    /// <summary>Whether the context may still hold a key schedule (<see cref="EncryptKeepingKey"/> ran since the last <see cref="Forget()"/>).</summary>
    public bool HoldsKey { get; private set; }

    /// <summary>Clears any key the context holds (a no-op when it holds none).</summary>
    public void Forget()
    {
        if (!HoldsKey)
            return;
        HoldsKey = false;
        if (context is not (0 or Disposed))
            Forget(OpenSsl.Instance!);
    }

    void Encrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plain, Span<byte> cipherText, Span<byte> tag, ReadOnlySpan<byte> associated, bool forget)
    {
        Check(key, nonce, plain.Length, cipherText.Length, tag);
        if (context == 0)
        {
            using var gcm = new AesGcm(key, TagBytes);
            gcm.Encrypt(nonce, plain, cipherText, tag, associated);
            return;
        }
        var ssl = OpenSsl.Instance!;
        ObjectDisposedException.ThrowIf(context == Disposed, this);
        bool ok;
        fixed (byte* k = key, n = nonce, p = plain, c = cipherText, t = tag, a = associated)
        {
            int written = 0;
            ok = ssl.CipherInit(context, 0, 0, k, n, 1) == 1
                && (associated.Length == 0 || ssl.CipherUpdate(context, null, &written, a, associated.Length) == 1)
                && (plain.Length == 0 || ssl.CipherUpdate(context, c, &written, p, plain.Length) == 1)
                && ssl.CipherFinal(context, c + plain.Length, &written) == 1
                && ssl.Control(context, CtrlGcmGetTag, TagBytes, t) == 1;
        }
        if (forget || !ok)
            Forget(ssl);
        else
            HoldsKey = true;
        if (!ok)
        {
            ssl.ClearErrors();
            cipherText.Clear();
            throw new CryptographicException("OpenSSL failed to encrypt a journal entry.");
        }
    }

    /// <summary>Re-keys the context with <see cref="NoKey"/>, so that no profile key stays in its key schedule.</summary>
    void Forget(OpenSsl ssl)
    {
        HoldsKey = false;
        fixed (byte* zero = NoKey)
            if (ssl.CipherInit(context, 0, 0, zero, null, 1) != 1)
                ssl.ClearErrors();
        // The context must outlive the native calls above: without this the finalizer of an
        // instance no longer referenced could free it while they run.
        GC.KeepAlive(this);
    }

    /// <summary>
    /// Decrypts <paramref name="cipherText"/> into <paramref name="plain"/>; false (and
    /// <paramref name="plain"/> cleared) when the tag does not match.
    /// </summary>
    public bool TryDecrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> cipherText, ReadOnlySpan<byte> tag, Span<byte> plain, ReadOnlySpan<byte> associated)
    {
        Check(key, nonce, cipherText.Length, plain.Length, tag);
        if (context == 0)
        {
            using var gcm = new AesGcm(key, TagBytes);
            try
            {
                gcm.Decrypt(nonce, cipherText, tag, plain, associated);
                return true;
            }
            catch (AuthenticationTagMismatchException)
            {
                return false;
            }
        }
        var ssl = OpenSsl.Instance!;
        ObjectDisposedException.ThrowIf(context == Disposed, this);
        // OpenSSL reads the expected tag through a non-const pointer; give it a copy.
        Span<byte> expected = stackalloc byte[TagBytes];
        tag.CopyTo(expected);
        bool ready, matched = false;
        fixed (byte* k = key, n = nonce, c = cipherText, p = plain, t = expected, a = associated)
        {
            int written = 0;
            ready = ssl.CipherInit(context, 0, 0, k, n, 0) == 1
                && (associated.Length == 0 || ssl.CipherUpdate(context, null, &written, a, associated.Length) == 1)
                && (cipherText.Length == 0 || ssl.CipherUpdate(context, p, &written, c, cipherText.Length) == 1)
                && ssl.Control(context, CtrlGcmSetTag, TagBytes, t) == 1;
            // Final is where GCM compares the tag: anything but 1 is a mismatch, not a fault.
            if (ready)
                matched = ssl.CipherFinal(context, p + cipherText.Length, &written) == 1;
        }
        Forget(ssl);
        if (!ready)
        {
            ssl.ClearErrors();
            plain.Clear();
            throw new CryptographicException("OpenSSL failed to decrypt a journal entry.");
        }
        if (!matched)
        {
            ssl.ClearErrors();
            plain.Clear();
            return false;
        }
        return true;
    }

    static void Check(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, int inLength, int outLength, ReadOnlySpan<byte> tag)
    {
        if (key.Length != KeyBytes)
            throw new ArgumentException($"an AES-256 key has {KeyBytes} bytes, not {key.Length}", nameof(key));
        if (nonce.Length != NonceBytes)
            throw new ArgumentException($"a GCM nonce here has {NonceBytes} bytes, not {nonce.Length}", nameof(nonce));
        if (tag.Length != TagBytes)
            throw new ArgumentException($"a GCM tag here has {TagBytes} bytes, not {tag.Length}", nameof(tag));
        if (outLength != inLength)
            throw new ArgumentException("input and output must have the same length");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the native context of a cipher nobody disposed (a thread's, when the thread ends).</summary>
    ~EntryCipher() => Free();

    void Free()
    {
        nint ctx = context;
        if (ctx is 0 or Disposed)
            return;
        context = Disposed;
        OpenSsl.Instance!.FreeContext(ctx);
    }

    /// <summary>The few libcrypto 3 entry points the cipher needs, bound once per process.</summary>
    sealed class OpenSsl
    {
        public static readonly OpenSsl? Instance = TryLoad();

        public nint Cipher;
        delegate* unmanaged<nint> newContext;
        delegate* unmanaged<nint, void> freeContext;
        delegate* unmanaged<nint, nint, nint, byte*, byte*, int, int> cipherInit;
        delegate* unmanaged<nint, byte*, int*, byte*, int, int> cipherUpdate;
        delegate* unmanaged<nint, byte*, int*, int> cipherFinal;
        delegate* unmanaged<nint, int, int, void*, int> control;
        delegate* unmanaged<void> clearErrors;

        public nint NewContext() => newContext();
        public void FreeContext(nint ctx) => freeContext(ctx);
        public int CipherInit(nint ctx, nint cipher, nint engine, byte* key, byte* iv, int encrypt) => cipherInit(ctx, cipher, engine, key, iv, encrypt);
        public int CipherUpdate(nint ctx, byte* output, int* written, byte* input, int length) => cipherUpdate(ctx, output, written, input, length);
        public int CipherFinal(nint ctx, byte* output, int* written) => cipherFinal(ctx, output, written);
        public int Control(nint ctx, int type, int arg, void* ptr) => control(ctx, type, arg, ptr);
        public void ClearErrors() => clearErrors();

        static OpenSsl? TryLoad()
        {
            if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libcrypto.so.3", out nint lib))
                return null;
            try
            {
                var ssl = new OpenSsl
                {
                    newContext = (delegate* unmanaged<nint>)NativeLibrary.GetExport(lib, "EVP_CIPHER_CTX_new"),
                    freeContext = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(lib, "EVP_CIPHER_CTX_free"),
                    cipherInit = (delegate* unmanaged<nint, nint, nint, byte*, byte*, int, int>)NativeLibrary.GetExport(lib, "EVP_CipherInit_ex"),
                    cipherUpdate = (delegate* unmanaged<nint, byte*, int*, byte*, int, int>)NativeLibrary.GetExport(lib, "EVP_CipherUpdate"),
                    cipherFinal = (delegate* unmanaged<nint, byte*, int*, int>)NativeLibrary.GetExport(lib, "EVP_CipherFinal_ex"),
                    control = (delegate* unmanaged<nint, int, int, void*, int>)NativeLibrary.GetExport(lib, "EVP_CIPHER_CTX_ctrl"),
                    clearErrors = (delegate* unmanaged<void>)NativeLibrary.GetExport(lib, "ERR_clear_error"),
                };
                var fetch = (delegate* unmanaged<nint, byte*, byte*, nint>)NativeLibrary.GetExport(lib, "EVP_CIPHER_fetch");
                // Fetched once: passing EVP_aes_256_gcm() would make OpenSSL 3 look the cipher up by
                // name on every init.
                fixed (byte* name = "AES-256-GCM\0"u8)
                    ssl.Cipher = fetch(0, name, null);
                return ssl.Cipher == 0 ? null : ssl;
            }
            catch (EntryPointNotFoundException)
            {
                return null;
            }
        }
    }
}
