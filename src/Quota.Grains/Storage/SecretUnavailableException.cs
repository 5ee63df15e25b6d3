namespace Quota.Grains.Storage;

/// <summary>
/// A stored secret cannot be encrypted or read: <see cref="Reason"/> says why, the message says what to do. The
/// message never carries the secret, the envelope or key bytes; it may name the purpose and the key id, neither of
/// which is secret.
/// </summary>
public sealed class SecretUnavailableException : Exception
{
    internal SecretUnavailableException(SecretUnavailableReason reason, string? keyId, string message)
        : base(message)
    {
        Reason = reason;
        KeyId = keyId;
    }

    /// <summary>Why the secret is unavailable.</summary>
    public SecretUnavailableReason Reason { get; }

    /// <summary>The fingerprint of the master key the envelope names; null when there is no envelope or it could not be read.</summary>
    public string? KeyId { get; }
}

/// <summary>Why a stored secret is unavailable.</summary>
public enum SecretUnavailableReason
{
    /// <summary><c>Quota:Secrets:MasterKeys</c> is empty, so nothing can be encrypted.</summary>
    NoMasterKeys,

    /// <summary>The envelope was sealed under a master key that is not configured (any more).</summary>
    KeyNotConfigured,

    /// <summary>The envelope does not authenticate: it was altered, or it was sealed for another purpose.</summary>
    AuthenticationFailed,

    /// <summary>The text is not an envelope this build reads.</summary>
    Malformed,
}
