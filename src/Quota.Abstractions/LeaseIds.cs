using System.Buffers.Text;
using System.Text;

namespace Quota.Abstractions;

/// <summary>
/// Lease ids name the subjects that hold the lease, so settling or releasing needs no lookup table that could be
/// lost: <c>{32 hex digits}.{base64url of "kind:id" lines}</c>. A forged id can only name leases that do not
/// exist on those subjects, which is harmless; one naming a holder that breaks <see cref="RequestRules.IsName"/>
/// does not decode.
/// </summary>
public static class LeaseIds
{
    /// <summary>The lease id for <paramref name="nonce"/> (32 lower-case hex digits) held by <paramref name="holders"/>.</summary>
    public static string Encode(string nonce, IEnumerable<(SubjectKind Kind, string Id)> holders)
    {
        var text = string.Join('\n', holders.Select(h => $"{SubjectNames.Prefix(h.Kind)}:{h.Id}"));
        return $"{nonce}.{Base64Url.EncodeToString(Encoding.UTF8.GetBytes(text))}";
    }

    /// <summary>Splits a lease id into its nonce and holders; false when it is malformed.</summary>
    public static bool TryDecode(string? leaseId, out string nonce, out List<(SubjectKind Kind, string Id)> holders)
    {
        nonce = string.Empty;
        holders = [];
        if (string.IsNullOrEmpty(leaseId) || leaseId.Length > 16_384)
        {
            return false;
        }

        var dot = leaseId.IndexOf('.', StringComparison.Ordinal);
        if (dot != 32 || !leaseId.AsSpan(0, 32).ContainsOnlyHex())
        {
            return false;
        }

        nonce = leaseId[..32];
        byte[] bytes;
        try
        {
            bytes = Base64Url.DecodeFromChars(leaseId.AsSpan(33));
        }
        catch (FormatException)
        {
            return false;
        }

        foreach (var line in Encoding.UTF8.GetString(bytes).Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            // A holder's name obeys the name rule like every name that enters: this service never issues a lease id
            // naming " " (and a grain could not be addressed by it), so such an id is simply not one of ours.
            if (colon <= 0 || !SubjectNames.TryParsePrefix(line[..colon], out var kind) || !RequestRules.IsName(line[(colon + 1)..]))
            {
                return false;
            }

            holders.Add((kind, line[(colon + 1)..]));
        }

        return holders.Count > 0;
    }

    private static bool ContainsOnlyHex(this ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
