using System.Net;
using Microsoft.Extensions.Options;
using Quota.Server.Admin;

namespace Quota.Server.Hosting;

/// <summary>Checks <see cref="QuotaHttpOptions"/> at start.</summary>
internal sealed class QuotaHttpOptionsValidator : IValidateOptions<QuotaHttpOptions>
{
    /// <summary>The smallest body limit: an acquire naming a user, a key and a few resources fits in it.</summary>
    public const int MinBodyBytes = 512;

    /// <summary>The largest: apply documents may be 64 times it, which must stay within 1 GiB.</summary>
    public const int MaxBodyBytes = 16 * 1024 * 1024;

    public ValidateOptionsResult Validate(string? name, QuotaHttpOptions options)
    {
        const string S = QuotaHttpOptions.SectionName;
        return options.MaxBodyBytes is < MinBodyBytes or > MaxBodyBytes
            ? ValidateOptionsResult.Fail($"{S}:MaxBodyBytes must be from {MinBodyBytes} to {MaxBodyBytes} (got {options.MaxBodyBytes}); the default is 16384.")
            : ValidateOptionsResult.Success;
    }
}

/// <summary>Checks <see cref="QuotaClusterOptions"/> at start, naming every bad setting.</summary>
internal sealed class QuotaClusterOptionsValidator : IValidateOptions<QuotaClusterOptions>
{
    public ValidateOptionsResult Validate(string? name, QuotaClusterOptions options)
    {
        const string S = QuotaClusterOptions.SectionName;
        var errors = new List<string>();
        foreach (var (key, value) in new[] { ("ClusterId", options.ClusterId), ("ServiceId", options.ServiceId) })
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                errors.Add($"{S}:{key} is empty; silos and clients must agree on it (the default is quota).");
            }
        }

        foreach (var (key, port) in new[] { ("SiloPort", options.SiloPort), ("GatewayPort", options.GatewayPort) })
        {
            if (port is < 1 or > 65535)
            {
                errors.Add($"{S}:{key} must be a port from 1 to 65535 (got {port}).");
            }
        }

        if (options.SiloPort == options.GatewayPort)
        {
            errors.Add($"{S}:SiloPort and {S}:GatewayPort are both {options.SiloPort}; give each its own port (the defaults are 11111 and 30000).");
        }

        if (!IPAddress.TryParse(options.AdvertisedAddress, out _))
        {
            errors.Add($"{S}:AdvertisedAddress is '{options.AdvertisedAddress}', which is not an IP address; use the address other silos reach this one at (e.g. 10.0.0.5).");
        }

        if (options.ListenAddress is { Length: > 0 } listen && !IPAddress.TryParse(listen, out _))
        {
            errors.Add($"{S}:ListenAddress is '{listen}', which is not an IP address; use 0.0.0.0 to listen on every interface, or leave it unset for the advertised address.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Checks <see cref="QuotaMembershipOptions"/> at start, naming every bad setting.</summary>
internal sealed class QuotaMembershipOptionsValidator : IValidateOptions<QuotaMembershipOptions>
{
    public ValidateOptionsResult Validate(string? name, QuotaMembershipOptions options)
    {
        const string S = QuotaMembershipOptions.SectionName;
        var errors = new List<string>();
        if (options.ProbeTimeout < TimeSpan.FromSeconds(1) || options.ProbeTimeout > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{S}:ProbeTimeout must be from 00:00:01 to 00:01:00 (got {options.ProbeTimeout}); the default is 00:00:03.");
        }

        foreach (var (key, value, fallback) in new[]
        {
            ("NumMissedProbesLimit", options.NumMissedProbesLimit, 3),
            ("NumProbedSilos", options.NumProbedSilos, 3),
            ("NumVotesForDeathDeclaration", options.NumVotesForDeathDeclaration, 2),
        })
        {
            if (value is < 1 or > 10)
            {
                errors.Add($"{S}:{key} must be from 1 to 10 (got {value}); the default is {fallback}.");
            }
        }

        if (options.NumVotesForDeathDeclaration > options.NumProbedSilos && options.NumProbedSilos >= 1)
        {
            errors.Add($"{S}:NumVotesForDeathDeclaration ({options.NumVotesForDeathDeclaration}) is more than {S}:NumProbedSilos ({options.NumProbedSilos}): a silo could never be declared dead; lower the votes or probe more silos.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>
/// Checks <see cref="QuotaStorageOptions"/> at start: the problems found while choosing the infrastructure (an unknown
/// provider, the PostgreSQL mode without a usable connection string or without its secrets), so they are listed with
/// every other problem instead of ending the start alone.
/// </summary>
internal sealed class QuotaStorageOptionsValidator(IReadOnlyList<string> wiringProblems) : IValidateOptions<QuotaStorageOptions>
{
    public ValidateOptionsResult Validate(string? name, QuotaStorageOptions options) =>
        wiringProblems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(wiringProblems);
}
