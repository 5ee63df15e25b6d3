using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Quota.Grains.Configuration;

namespace Quota.Grains.Storage;

/// <summary>
/// Encrypts the secrets Quota stores (such as upstream tokens) with AES-256-GCM under the master keys of
/// <see cref="SecretOptions.MasterKeys"/>. An envelope is text, <c>v1.{keyId}.{data}</c>: <c>keyId</c> is a
/// non-secret fingerprint of the master key that sealed it (16 lower-case hex digits), <c>data</c> the base64url of
/// a random 12-byte nonce, the ciphertext and the 16-byte tag. The purpose (e.g.
/// <c>upstream-token:baselinker/bl-2</c>) is authenticated with the ciphertext, so an envelope copied to another
/// record does not open there.
/// </summary>
/// <remarks>
/// Built from options, the protector never falls back to a built-in key: with no master keys it still constructs
/// (the embedded default stores no secret until asked to) and every operation throws
/// <see cref="SecretUnavailableException"/> naming <c>Quota:Secrets:MasterKeys</c>. A built-in development key is
/// used only by a protector made with <see cref="ForDevelopment"/>, which a caller must choose explicitly (tests,
/// or an embedded silo whose storage is memory). No message carries plaintext or key bytes. Thread-safe.
/// </remarks>
public sealed class SecretProtector
{
    /// <summary>The size of a master key: 32 bytes (AES-256).</summary>
    public const int KeySize = 32;

    private const string Version = "v1";
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const int KeyIdBytes = 8;
    private const string MasterKeysPath = SecretOptions.SectionName + ":MasterKeys";

    // Both labels are fixed forever: changing the first renames every key id (old envelopes would look like
    // they were sealed under an unknown key), changing the second changes the development key.
    private const string KeyIdLabel = "quota.master-key-id.v1:";
    private const string DevelopmentKeyLabel = "quota.embedded-development-master-key.v1";

    // Strict: a lone surrogate would otherwise become U+FFFD and the secret would come back different.
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly MasterKey[] _keys;

    /// <summary>
    /// Creates the protector from <see cref="SecretOptions.MasterKeys"/> (newest first). No keys is allowed here;
    /// protecting or reading a secret then throws.
    /// </summary>
    /// <exception cref="OptionsValidationException">An entry is not the base64 of 32 bytes, or a key is listed twice.</exception>
    public SecretProtector(IOptions<SecretOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var keys = ParseMasterKeys(options.Value.MasterKeys, errors);
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(SecretOptions.SectionName, typeof(SecretOptions), errors);
        }

        _keys = [.. keys.Select(key => new MasterKey(FingerprintOf(key), key))];
    }

    private SecretProtector(byte[] developmentKey)
    {
        _keys = [new MasterKey(FingerprintOf(developmentKey), developmentKey)];
        UsesDevelopmentKey = true;
    }

    /// <summary>
    /// Whether this protector holds only the built-in development key (<see cref="ForDevelopment"/>). That key is
    /// in Quota's source, so what it seals is as good as plaintext.
    /// </summary>
    public bool UsesDevelopmentKey { get; }

    /// <summary>The fingerprint of the key new envelopes are sealed under (the newest); null when no master key is configured.</summary>
    public string? CurrentKeyId => _keys.Length == 0 ? null : _keys[0].Id;

    /// <summary>
    /// A protector whose only key is the built-in development key, the same in every process so that every silo of
    /// a development cluster opens what another sealed. Only for tests and an embedded silo with memory storage:
    /// its envelopes do not open under configured master keys, and the PostgreSQL mode requires
    /// <c>Quota:Secrets:MasterKeys</c> (<see cref="SecretRequirements"/>).
    /// </summary>
    public static SecretProtector ForDevelopment() =>
        new(SHA256.HashData(Encoding.ASCII.GetBytes(DevelopmentKeyLabel)));

    /// <summary>Seals <paramref name="plaintext"/> (any text, empty included) under the newest master key, bound to <paramref name="purpose"/>.</summary>
    /// <param name="plaintext">The secret.</param>
    /// <param name="purpose">What the secret is for and which record holds it, e.g. <c>upstream-token:baselinker/bl-2</c>; not secret.</param>
    /// <returns>The envelope, <c>v1.{keyId}.{data}</c>; two calls with the same input give different envelopes.</returns>
    /// <exception cref="SecretUnavailableException">No master key is configured.</exception>
    /// <exception cref="ArgumentException">The purpose is empty, or either text is not valid UTF-16.</exception>
    public string Protect(string plaintext, string purpose)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        var associatedData = AssociatedDataCheck(purpose);
        var newest = Newest(purpose);
        byte[] bytes;
        try
        {
            bytes = Utf8.GetBytes(plaintext);
        }
        catch (EncoderFallbackException)
        {
            // Not passed on as the inner exception: its message quotes the offending character.
            throw new ArgumentException("The secret is not valid UTF-16 text (it has a lone surrogate) and cannot be stored.", nameof(plaintext));
        }

        try
        {
            return Seal(newest, bytes, associatedData);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>Opens an envelope made by <see cref="Protect"/> for the same <paramref name="purpose"/>, under whichever listed key sealed it.</summary>
    /// <exception cref="SecretUnavailableException">
    /// The key that sealed it is not configured, the envelope was altered or belongs to another purpose, or it is
    /// not an envelope; <see cref="SecretUnavailableException.Reason"/> says which.
    /// </exception>
    /// <exception cref="ArgumentException">The purpose is empty or not valid UTF-16.</exception>
    public string Unprotect(string envelope, string purpose)
    {
        var plaintext = Open(envelope, purpose, out _);
        try
        {
            return Utf8.GetString(plaintext);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>
    /// Whether <paramref name="envelope"/> was sealed under a key other than the newest, so the re-encryption step
    /// should pass it through <see cref="Reencrypt"/> before the older key is removed. Does not authenticate it.
    /// </summary>
    /// <exception cref="SecretUnavailableException">No master key is configured, or it is not an envelope.</exception>
    public bool NeedsRotation(string envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var (keyId, _) = Parse(envelope, purpose: null);
        return !string.Equals(keyId, Newest(purpose: null).Id, StringComparison.Ordinal);
    }

    /// <summary>
    /// Opens <paramref name="envelope"/> under whichever listed key sealed it and seals it again under the newest.
    /// An envelope already under the newest key is authenticated and returned unchanged, so running the
    /// re-encryption step twice changes nothing the second time.
    /// </summary>
    /// <exception cref="SecretUnavailableException">As for <see cref="Unprotect"/>.</exception>
    /// <exception cref="ArgumentException">The purpose is empty or not valid UTF-16.</exception>
    public string Reencrypt(string envelope, string purpose)
    {
        var plaintext = Open(envelope, purpose, out var sealedUnder);
        try
        {
            var newest = _keys[0];
            return ReferenceEquals(sealedUnder, newest)
                ? envelope
                : Seal(newest, plaintext, AssociatedDataCheck(purpose));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>
    /// Decodes <paramref name="entries"/> (newest first) into keys, adding one error per bad entry to
    /// <paramref name="errors"/>: each names the entry and how to make a key, none quotes it.
    /// </summary>
    internal static List<byte[]> ParseMasterKeys(IReadOnlyList<string>? entries, List<string> errors)
    {
        var keys = new List<byte[]>();
        var indexes = new List<int>();
        for (var i = 0; i < (entries?.Count ?? 0); i++)
        {
            var path = $"{MasterKeysPath}:{i}";
            var entry = entries![i];
            if (string.IsNullOrWhiteSpace(entry))
            {
                errors.Add($"{path}: is empty; set it to a new key made with `openssl rand -base64 32`, or remove the entry.");
                continue;
            }

            var buffer = new byte[(entry.Length * 3 / 4) + 3];
            try
            {
                if (!Convert.TryFromBase64String(entry, buffer, out var written))
                {
                    errors.Add($"{path}: is not valid base64; a master key is {KeySize} random bytes in base64, made with `openssl rand -base64 32`.");
                    continue;
                }

                if (written != KeySize)
                {
                    errors.Add($"{path}: decodes to {written} bytes, but a master key is exactly {KeySize} bytes (256 bits); make one with `openssl rand -base64 32`.");
                    continue;
                }

                var key = buffer[..KeySize];
                var same = keys.FindIndex(other => CryptographicOperations.FixedTimeEquals(other, key));
                if (same >= 0)
                {
                    errors.Add($"{path}: is the same key as {MasterKeysPath}:{indexes[same]}; list each key once.");
                    continue;
                }

                keys.Add(key);
                indexes.Add(i);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(buffer);
            }
        }

        return keys;
    }

    /// <summary>The key id of <paramref name="key"/>: the first 8 bytes of SHA-256 over a fixed label and the key, as lower-case hex.</summary>
    internal static string FingerprintOf(ReadOnlySpan<byte> key)
    {
        var label = Encoding.ASCII.GetBytes(KeyIdLabel);
        var input = new byte[label.Length + key.Length];
        try
        {
            label.CopyTo(input, 0);
            key.CopyTo(input.AsSpan(label.Length));
            return Convert.ToHexStringLower(SHA256.HashData(input).AsSpan(0, KeyIdBytes));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(input);
        }
    }

    private static string Seal(MasterKey key, ReadOnlySpan<byte> plaintext, byte[] purposeBytes)
    {
        var payload = new byte[NonceSize + plaintext.Length + TagSize];
        var nonce = payload.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key.Bytes, TagSize);
        aes.Encrypt(
            nonce,
            plaintext,
            payload.AsSpan(NonceSize, plaintext.Length),
            payload.AsSpan(NonceSize + plaintext.Length),
            AssociatedData(key.Id, purposeBytes));
        return $"{Version}.{key.Id}.{Base64Url.EncodeToString(payload)}";
    }

    private byte[] Open(string envelope, string purpose, out MasterKey sealedUnder)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var purposeBytes = AssociatedDataCheck(purpose);
        var (keyId, payload) = Parse(envelope, purpose);
        sealedUnder = Array.Find(_keys, key => string.Equals(key.Id, keyId, StringComparison.Ordinal))
            ?? throw new SecretUnavailableException(
                SecretUnavailableReason.KeyNotConfigured,
                keyId,
                $"{Subject(purpose)} is encrypted under master key {keyId}, which is not in {MasterKeysPath}"
                + (_keys.Length == 0 ? " (no master key is configured)" : string.Empty)
                + "; add it back (older keys may stay listed after the newest) or re-enter the secret.");

        var plaintext = new byte[payload.Length - NonceSize - TagSize];
        try
        {
            using var aes = new AesGcm(sealedUnder.Bytes, TagSize);
            aes.Decrypt(
                payload.AsSpan(0, NonceSize),
                payload.AsSpan(NonceSize, plaintext.Length),
                payload.AsSpan(NonceSize + plaintext.Length),
                plaintext,
                AssociatedData(keyId, purposeBytes));
            return plaintext;
        }
        catch (CryptographicException)
        {
            // The inner exception is dropped on purpose: it adds nothing an operator can act on.
            CryptographicOperations.ZeroMemory(plaintext);
            throw new SecretUnavailableException(
                SecretUnavailableReason.AuthenticationFailed,
                keyId,
                $"{Subject(purpose)} does not authenticate under master key {keyId}: the stored envelope was altered, "
                + "or it belongs to another record (a different purpose); re-enter the secret.");
        }
    }

    private static (string KeyId, byte[] Payload) Parse(string envelope, string? purpose)
    {
        // Nothing of the envelope is quoted back: a record that holds plaintext by mistake must not leak it here.
        var parts = envelope.Split('.');
        if (parts.Length == 3 && parts[0] != Version && parts[0] is ['v', .. var digits] && digits.Length is > 0 and <= 3 && digits.All(char.IsAsciiDigit))
        {
            throw new SecretUnavailableException(
                SecretUnavailableReason.Malformed,
                keyId: null,
                $"{Subject(purpose)} is an envelope of version {parts[0]}, which this build does not read (it reads {Version}); run the Quota version that wrote it.");
        }

        if (parts.Length != 3
            || parts[0] != Version
            || parts[1].Length != KeyIdBytes * 2
            || !parts[1].All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f')
            || !Base64Url.IsValid(parts[2], out var length)
            || length < NonceSize + TagSize)
        {
            throw new SecretUnavailableException(
                SecretUnavailableReason.Malformed,
                keyId: null,
                $"{Subject(purpose)} is not a Quota secret envelope (expected {Version}.<keyId>.<data>): it was damaged in storage or stored unencrypted; re-enter the secret.");
        }

        return (parts[1], Base64Url.DecodeFromChars(parts[2]));
    }

    private MasterKey Newest(string? purpose) =>
        _keys.Length > 0
            ? _keys[0]
            : throw new SecretUnavailableException(
                SecretUnavailableReason.NoMasterKeys,
                keyId: null,
                $"{Subject(purpose)} cannot be encrypted: {MasterKeysPath} is not set. Create a key with "
                + $"`openssl rand -base64 32` and set {MasterKeysPath}:0 (environment: Quota__Secrets__MasterKeys__0).");

    private static byte[] AssociatedDataCheck(string purpose)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(purpose);
        try
        {
            return Utf8.GetBytes(purpose);
        }
        catch (EncoderFallbackException)
        {
            throw new ArgumentException("The purpose is not valid UTF-16 text (it has a lone surrogate).", nameof(purpose));
        }
    }

    // The version and key id are authenticated with the purpose so that no part of the header can be swapped.
    private static byte[] AssociatedData(string keyId, byte[] purpose)
    {
        var header = Encoding.ASCII.GetBytes($"{Version}.{keyId}.");
        return [.. header, .. purpose];
    }

    private static string Subject(string? purpose) =>
        purpose is null ? "A stored secret" : $"The secret for '{purpose}'";

    private sealed class MasterKey(string id, byte[] bytes)
    {
        public string Id { get; } = id;

        public byte[] Bytes { get; } = bytes;
    }
}
