using Quota.Grains.Configuration;

namespace Quota.Grains.Storage;

/// <summary>
/// The secret settings a durable silo (PostgreSQL storage) must have before it starts. Without them the embedded
/// default falls back to development values, which would be written to durable storage and outlive the process.
/// </summary>
public static class SecretRequirements
{
    /// <summary>
    /// One message per missing setting, each saying what the setting protects and how to create it; empty when
    /// every setting is present or when <paramref name="durable"/> is false. Presence only: whether a value is
    /// well formed is checked by options validation. No message carries a configured value.
    /// </summary>
    /// <param name="options">The bound secret options.</param>
    /// <param name="durable">Whether grain state is stored durably (PostgreSQL), rather than in memory.</param>
    public static IReadOnlyList<string> Missing(SecretOptions options, bool durable)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!durable)
        {
            return [];
        }

        var missing = new List<string>();
        if (options.MasterKeys is null || options.MasterKeys.TrueForAll(string.IsNullOrWhiteSpace))
        {
            missing.Add(
                $"{SecretOptions.SectionName}:MasterKeys is not set: it encrypts stored secrets (such as upstream tokens) "
                + "at rest in PostgreSQL. Create a key with `openssl rand -base64 32` and set "
                + $"{SecretOptions.SectionName}:MasterKeys:0 (environment: Quota__Secrets__MasterKeys__0); keep it, "
                + "secrets sealed under it cannot be read without it.");
        }

        if (string.IsNullOrWhiteSpace(options.Pepper))
        {
            missing.Add(
                $"{SecretOptions.SectionName}:Pepper is not set: it keys the hashes of inbound API keys, which PostgreSQL "
                + "keeps, so the built-in development pepper must not be used. Create one with `openssl rand -base64 32` "
                + $"and set {SecretOptions.SectionName}:Pepper (environment: Quota__Secrets__Pepper); keep it stable, "
                + "changing it invalidates every registered API key.");
        }

        return missing;
    }
}
