using System.Globalization;
using System.Text;

namespace Quota.Http.Tests.Infrastructure;

/// <summary>One item of an RFC 9651 list whose bare items are sf-strings, with its parameters.</summary>
public sealed record SfItem(string Name, IReadOnlyDictionary<string, string> Parameters)
{
    /// <summary>An integer parameter.</summary>
    public long Integer(string key)
    {
        Assert.True(Parameters.TryGetValue(key, out var text), $"'{Name}' has no parameter {key}");
        return long.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// A strict parser for the Structured Field lists Quota writes in <c>RateLimit-Policy</c> and <c>RateLimit</c>:
/// <c>"name";key=value;key="string", "other";key=value</c>. Anything else fails the test.
/// </summary>
public static class StructuredFields
{
    public static IReadOnlyList<SfItem> ParseList(string? text)
    {
        Assert.False(string.IsNullOrEmpty(text), "The structured field is missing or empty.");
        var items = new List<SfItem>();
        var i = 0;
        while (true)
        {
            var name = ReadString(text, ref i);
            var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
            while (i < text.Length && text[i] == ';')
            {
                i++;
                var keyStart = i;
                while (i < text.Length && (char.IsAsciiLetterLower(text[i]) || char.IsAsciiDigit(text[i]) || text[i] is '_' or '-' or '.' or '*'))
                {
                    i++;
                }

                var key = text[keyStart..i];
                Assert.False(key.Length == 0, $"Empty parameter key at {keyStart} in: {text}");
                Assert.True(i < text.Length && text[i] == '=', $"Parameter '{key}' has no value in: {text}");
                i++;
                if (i < text.Length && text[i] == '"')
                {
                    parameters.Add(key, ReadString(text, ref i));
                }
                else
                {
                    var valueStart = i;
                    while (i < text.Length && (char.IsAsciiDigit(text[i]) || (i == valueStart && text[i] == '-')))
                    {
                        i++;
                    }

                    Assert.True(i > valueStart, $"Parameter '{key}' is neither an integer nor a string in: {text}");
                    parameters.Add(key, text[valueStart..i]);
                }
            }

            items.Add(new SfItem(name, parameters));
            if (i == text.Length)
            {
                return items;
            }

            Assert.True(text[i] == ',', $"Expected ',' at {i} in: {text}");
            i++;
            while (i < text.Length && text[i] is ' ' or '\t')
            {
                i++;
            }
        }
    }

    private static string ReadString(string text, ref int i)
    {
        Assert.True(i < text.Length && text[i] == '"', $"Expected an sf-string at {i} in: {text}");
        i++;
        var value = new StringBuilder();
        while (true)
        {
            Assert.True(i < text.Length, $"Unterminated sf-string in: {text}");
            var c = text[i++];
            if (c == '"')
            {
                return value.ToString();
            }

            if (c == '\\')
            {
                Assert.True(i < text.Length && text[i] is '"' or '\\', $"Bad escape at {i} in: {text}");
                c = text[i++];
            }

            Assert.True(c is >= ' ' and <= '~', $"Non-printable character in an sf-string in: {text}");
            value.Append(c);
        }
    }
}
