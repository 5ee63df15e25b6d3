using System.Buffers.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Quota.Grains.Configuration;
using Quota.Grains.Storage;

namespace Quota.Grains.Tests.Storage;

public sealed class SecretProtectorTests
{
    private const string Purpose = "upstream-token:baselinker/bl-2";
    private const string Token = "bl-token-7f3a9c";

    private static readonly string K1 = Key(0x11);
    private static readonly string K2 = Key(0x22);

    private static string Key(byte fill) => Convert.ToBase64String(Enumerable.Range(0, 32).Select(i => (byte)(fill + i)).ToArray());

    private static string KeyIdOf(string base64) => SecretProtector.FingerprintOf(Convert.FromBase64String(base64));

    private static SecretProtector With(params string[] keys) => new(Options.Create(new SecretOptions { MasterKeys = [.. keys] }));

    private static IReadOnlyList<string> Validate(SecretOptions options)
    {
        var result = new SecretOptionsValidator().Validate(null, options);
        return result.Failed ? [.. result.Failures] : [];
    }

    private static string Tamper(string envelope, int fromEnd)
    {
        var dot = envelope.LastIndexOf('.');
        var payload = Base64Url.DecodeFromChars(envelope.AsSpan(dot + 1));
        payload[^fromEnd] ^= 0x01;
        return string.Concat(envelope.AsSpan(0, dot + 1), Base64Url.EncodeToString(payload));
    }

    [Fact]
    public void ASecretComesBackAsItWentIn()
    {
        var protector = With(K1);
        var envelope = protector.Protect(Token, Purpose);

        Assert.Equal(Token, protector.Unprotect(envelope, Purpose));
        Assert.DoesNotContain(Token, envelope, StringComparison.Ordinal);
    }

    [Fact]
    public void TheEnvelopeNamesTheVersionAndTheKeyFingerprint()
    {
        var envelope = With(K1).Protect(Token, Purpose);
        var parts = envelope.Split('.');

        Assert.Equal(3, parts.Length);
        Assert.Equal("v1", parts[0]);
        Assert.Equal(KeyIdOf(K1), parts[1]);
        Assert.Matches("^[0-9a-f]{16}$", parts[1]);

        // nonce 12 + ciphertext (one byte per ASCII character) + tag 16
        Assert.Equal(12 + Token.Length + 16, Base64Url.DecodeFromChars(parts[2]).Length);
    }

    [Fact]
    public void KeyIdsAreFixedFingerprintsThatTheDocumentedShellRecipeReproduces()
    {
        // Pinned: a change here renames every key, and old envelopes would look sealed under an unknown key.
        // Same value as: { printf 'quota.master-key-id.v1:'; printf '%s' "$KEY" | base64 -d; } | sha256sum | cut -c1-16
        Assert.Equal("ERITFBUWFxgZGhscHR4fICEiIyQlJicoKSorLC0uLzA=", K1);
        Assert.Equal("a160c75a757c6845", With(K1).CurrentKeyId);
        Assert.Equal("72d928df37d7ca6a", SecretProtector.ForDevelopment().CurrentKeyId);
    }

    [Fact]
    public void TwoEncryptionsOfTheSameSecretDiffer()
    {
        var protector = With(K1);
        var first = protector.Protect(Token, Purpose);
        var second = protector.Protect(Token, Purpose);

        Assert.NotEqual(first, second);
        Assert.Equal(Token, protector.Unprotect(first, Purpose));
        Assert.Equal(Token, protector.Unprotect(second, Purpose));
    }

    [Fact]
    public void AnEnvelopeDoesNotOpenForAnotherPurpose()
    {
        var protector = With(K1);
        var envelope = protector.Protect(Token, Purpose);

        var e = Assert.Throws<SecretUnavailableException>(() => protector.Unprotect(envelope, "upstream-token:baselinker/bl-3"));
        Assert.Equal(SecretUnavailableReason.AuthenticationFailed, e.Reason);
        Assert.Equal(KeyIdOf(K1), e.KeyId);
        Assert.Contains("'upstream-token:baselinker/bl-3'", e.Message, StringComparison.Ordinal);
        Assert.Contains("another record", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, e.Message, StringComparison.Ordinal);
        Assert.Null(e.InnerException);
    }

    [Theory]
    [InlineData(1)] // the tag
    [InlineData(17)] // the ciphertext
    [InlineData(20 + 15)] // the nonce (payload is 12 + 15 + 16 bytes)
    public void AnAlteredByteIsDetected(int fromEnd)
    {
        var protector = With(K1);
        var envelope = protector.Protect(Token, Purpose);

        var e = Assert.Throws<SecretUnavailableException>(() => protector.Unprotect(Tamper(envelope, fromEnd), Purpose));
        Assert.Equal(SecretUnavailableReason.AuthenticationFailed, e.Reason);
        Assert.DoesNotContain(Token, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEnvelopeMovedUnderAnotherKeyIdIsDetected()
    {
        var both = With(K2, K1);
        var envelope = With(K1).Protect(Token, Purpose);
        var relabelled = envelope.Replace(KeyIdOf(K1), KeyIdOf(K2), StringComparison.Ordinal);

        Assert.Equal(SecretUnavailableReason.AuthenticationFailed, Assert.Throws<SecretUnavailableException>(() => both.Unprotect(relabelled, Purpose)).Reason);
    }

    [Theory]
    [InlineData("")]
    [InlineData("plain-token-stored-by-mistake")]
    [InlineData("v1.0123456789abcdef.")]
    [InlineData("v1.0123456789abcdef.AAAA")]
    [InlineData("v1.NOT-HEX-AT-ALL!.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("a.secret.value")]
    public void TextThatIsNotAnEnvelopeIsRejectedWithoutQuotingIt(string text)
    {
        var e = Assert.Throws<SecretUnavailableException>(() => With(K1).Unprotect(text, Purpose));
        Assert.Equal(SecretUnavailableReason.Malformed, e.Reason);
        Assert.Equal($"The secret for '{Purpose}' is not a Quota secret envelope (expected v1.<keyId>.<data>): it was damaged in storage or stored unencrypted; re-enter the secret.", e.Message);
    }

    [Fact]
    public void AnEnvelopeOfAnotherVersionSaysSo()
    {
        var envelope = "v2" + With(K1).Protect(Token, Purpose)[2..];

        var e = Assert.Throws<SecretUnavailableException>(() => With(K1).Unprotect(envelope, Purpose));
        Assert.Equal(SecretUnavailableReason.Malformed, e.Reason);
        Assert.Contains("version v2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RotationKeepsOldSecretsReadableUntilTheyAreReencryptedUnderTheNewestKey()
    {
        var old = With(K1).Protect(Token, Purpose);
        var rotating = With(K2, K1);

        Assert.Equal(Token, rotating.Unprotect(old, Purpose));
        Assert.True(rotating.NeedsRotation(old));
        Assert.False(With(K1).NeedsRotation(old));

        var renewed = rotating.Reencrypt(old, Purpose);
        Assert.Equal(KeyIdOf(K2), renewed.Split('.')[1]);
        Assert.False(rotating.NeedsRotation(renewed));
        Assert.Equal(Token, With(K2).Unprotect(renewed, Purpose));

        // Idempotent: already under the newest key, the envelope is authenticated and returned as is.
        Assert.Same(renewed, rotating.Reencrypt(renewed, Purpose));
        Assert.Equal(SecretUnavailableReason.AuthenticationFailed, Assert.Throws<SecretUnavailableException>(() => rotating.Reencrypt(renewed, "another")).Reason);
    }

    [Fact]
    public void ASecretUnderARemovedKeyNamesTheKeyAndLeaksNothing()
    {
        var old = With(K1).Protect(Token, Purpose);
        var keyId = KeyIdOf(K1);

        var e = Assert.Throws<SecretUnavailableException>(() => With(K2).Unprotect(old, Purpose));
        Assert.Equal(SecretUnavailableReason.KeyNotConfigured, e.Reason);
        Assert.Equal(keyId, e.KeyId);
        Assert.Equal(
            $"The secret for '{Purpose}' is encrypted under master key {keyId}, which is not in Quota:Secrets:MasterKeys; add it back (older keys may stay listed after the newest) or re-enter the secret.",
            e.Message);
        Assert.DoesNotContain(Token, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(K1, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(K2, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(old.Split('.')[2], e.Message, StringComparison.Ordinal);
        Assert.Equal(SecretUnavailableReason.KeyNotConfigured, Assert.Throws<SecretUnavailableException>(() => With(K2).Reencrypt(old, Purpose)).Reason);
    }

    [Fact]
    public void WithoutMasterKeysTheProtectorConstructsButRefusesToProtect()
    {
        var protector = With();
        Assert.Null(protector.CurrentKeyId);
        Assert.False(protector.UsesDevelopmentKey);

        var e = Assert.Throws<SecretUnavailableException>(() => protector.Protect(Token, Purpose));
        Assert.Equal(SecretUnavailableReason.NoMasterKeys, e.Reason);
        Assert.Contains("Quota:Secrets:MasterKeys is not set", e.Message, StringComparison.Ordinal);
        Assert.Contains("openssl rand -base64 32", e.Message, StringComparison.Ordinal);

        var old = With(K1).Protect(Token, Purpose);
        var unreadable = Assert.Throws<SecretUnavailableException>(() => protector.Unprotect(old, Purpose));
        Assert.Equal(SecretUnavailableReason.KeyNotConfigured, unreadable.Reason);
        Assert.Contains("(no master key is configured)", unreadable.Message, StringComparison.Ordinal);
        Assert.Equal(SecretUnavailableReason.NoMasterKeys, Assert.Throws<SecretUnavailableException>(() => protector.NeedsRotation(old)).Reason);
    }

    [Fact]
    public void TheDevelopmentKeyIsUsedOnlyWhenAskedForAndItsSecretsDoNotOpenUnderConfiguredKeys()
    {
        var development = SecretProtector.ForDevelopment();
        Assert.True(development.UsesDevelopmentKey);
        Assert.Equal(development.CurrentKeyId, SecretProtector.ForDevelopment().CurrentKeyId);

        var envelope = development.Protect(Token, Purpose);
        Assert.Equal(Token, SecretProtector.ForDevelopment().Unprotect(envelope, Purpose));
        Assert.Equal(SecretUnavailableReason.KeyNotConfigured, Assert.Throws<SecretUnavailableException>(() => With(K1).Unprotect(envelope, Purpose)).Reason);
        Assert.False(With(K1).UsesDevelopmentKey);
    }

    [Theory]
    [InlineData("")]
    [InlineData("zażółć gęślą jaźń — 東京 🔑")]
    [InlineData("line one\nline two\0after a NUL")]
    public void AnyTextRoundTripsEmptyAndUnicodeIncluded(string plaintext)
    {
        var protector = With(K1);
        Assert.Equal(plaintext, protector.Unprotect(protector.Protect(plaintext, Purpose), Purpose));
    }

    [Fact]
    public void AnEmptyPurposeOrALoneSurrogateIsRefused()
    {
        var protector = With(K1);
        Assert.Throws<ArgumentException>(() => protector.Protect(Token, ""));
        Assert.Throws<ArgumentException>(() => protector.Protect(Token, "  "));
        var e = Assert.Throws<ArgumentException>(() => protector.Protect("abc\uD800", Purpose));
        Assert.Equal("plaintext", e.ParamName);
        Assert.Null(e.InnerException);
    }

    [Fact]
    public void ValidationNamesEveryBadEntryAndHowToMakeAKeyWithoutQuotingIt()
    {
        var shortKey = Convert.ToBase64String(new byte[16]);
        var errors = Validate(new SecretOptions { MasterKeys = [K1, "not base64!", shortKey, "", K1, K2, Key(0x11)] });

        Assert.Equal(
            [
                "Quota:Secrets:MasterKeys:1: is not valid base64; a master key is 32 random bytes in base64, made with `openssl rand -base64 32`.",
                "Quota:Secrets:MasterKeys:2: decodes to 16 bytes, but a master key is exactly 32 bytes (256 bits); make one with `openssl rand -base64 32`.",
                "Quota:Secrets:MasterKeys:3: is empty; set it to a new key made with `openssl rand -base64 32`, or remove the entry.",
                "Quota:Secrets:MasterKeys:4: is the same key as Quota:Secrets:MasterKeys:0; list each key once.",
                "Quota:Secrets:MasterKeys:6: is the same key as Quota:Secrets:MasterKeys:0; list each key once.",
            ],
            errors);
        Assert.All(errors, error => Assert.DoesNotContain(K1, error, StringComparison.Ordinal));
        Assert.All(errors, error => Assert.DoesNotContain(shortKey, error, StringComparison.Ordinal));
    }

    [Fact]
    public void ValidationCollectsPepperAndKeyProblemsTogether()
    {
        var errors = Validate(new SecretOptions { Pepper = "short", MasterKeys = [Convert.ToBase64String(new byte[33])] });

        Assert.Equal(2, errors.Count);
        Assert.StartsWith("Quota:Secrets:Pepper:", errors[0], StringComparison.Ordinal);
        Assert.StartsWith("Quota:Secrets:MasterKeys:0: decodes to 33 bytes", errors[1], StringComparison.Ordinal);
        Assert.Empty(Validate(new SecretOptions { MasterKeys = [K2, K1] }));
        Assert.Empty(Validate(new SecretOptions()));
    }

    [Fact]
    public void AKeyWithSurroundingWhitespaceOrAFinalNewlineIsAccepted()
    {
        // `openssl rand -base64 32 > key` writes a final newline; a key read from such a file must still work.
        var protector = With(K1 + "\n");
        Assert.Equal(KeyIdOf(K1), protector.CurrentKeyId);
    }

    [Fact]
    public void ConstructingFromInvalidKeysThrowsTheValidationErrors()
    {
        var e = Assert.Throws<OptionsValidationException>(() => With(K1, "not a key!"));
        Assert.Equal("Quota:Secrets:MasterKeys:1: is not valid base64; a master key is 32 random bytes in base64, made with `openssl rand -base64 32`.", Assert.Single(e.Failures));
    }

    [Fact]
    public void SecretRequirementsListEachMissingSettingOnlyWhenDurable()
    {
        var none = new SecretOptions();
        Assert.Empty(SecretRequirements.Missing(none, durable: false));

        var missing = SecretRequirements.Missing(none, durable: true);
        Assert.Equal(2, missing.Count);
        Assert.StartsWith("Quota:Secrets:MasterKeys is not set: it encrypts stored secrets", missing[0], StringComparison.Ordinal);
        Assert.Contains("`openssl rand -base64 32`", missing[0], StringComparison.Ordinal);
        Assert.Contains("Quota__Secrets__MasterKeys__0", missing[0], StringComparison.Ordinal);
        Assert.StartsWith("Quota:Secrets:Pepper is not set: it keys the hashes of inbound API keys", missing[1], StringComparison.Ordinal);
        Assert.Contains("`openssl rand -base64 32`", missing[1], StringComparison.Ordinal);

        var pepper = "a-pepper-of-at-least-16-characters";
        Assert.StartsWith("Quota:Secrets:MasterKeys", Assert.Single(SecretRequirements.Missing(new SecretOptions { Pepper = pepper, MasterKeys = ["  "] }, durable: true)), StringComparison.Ordinal);
        Assert.StartsWith("Quota:Secrets:Pepper", Assert.Single(SecretRequirements.Missing(new SecretOptions { MasterKeys = [K1] }, durable: true)), StringComparison.Ordinal);
        Assert.Empty(SecretRequirements.Missing(new SecretOptions { Pepper = pepper, MasterKeys = [K1] }, durable: true));
        Assert.All(SecretRequirements.Missing(new SecretOptions { MasterKeys = [K1] }, durable: true), m => Assert.DoesNotContain(K1, m, StringComparison.Ordinal));
    }

    [Fact]
    public void AddQuotaGrainsRegistersAProtectorThatStartsWithoutKeysAndReadsThemNewestFirst()
    {
        using var empty = new ServiceCollection().AddQuotaGrains(new ConfigurationBuilder().Build()).BuildServiceProvider();
        var keyless = empty.GetRequiredService<SecretProtector>();
        Assert.Null(keyless.CurrentKeyId);
        Assert.Same(keyless, empty.GetRequiredService<SecretProtector>());

        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Quota:Secrets:MasterKeys:0"] = K2,
                ["Quota:Secrets:MasterKeys:1"] = K1,
            })
            .Build();
        using var configured = new ServiceCollection().AddQuotaGrains(configuration).BuildServiceProvider();
        var protector = configured.GetRequiredService<SecretProtector>();
        Assert.Equal(KeyIdOf(K2), protector.CurrentKeyId);
        Assert.Equal(Token, protector.Unprotect(With(K1).Protect(Token, Purpose), Purpose));
    }
}
