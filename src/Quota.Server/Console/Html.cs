using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;

namespace Quota.Server.OperatorConsole;

/// <summary>
/// Builds the console's HTML. Every interpolated value is HTML-encoded (names are user input: a user called
/// <c>&lt;script&gt;</c> renders as text); only a <see cref="Markup"/> (a fragment built here) goes in as it is.
/// Numbers and instants are written with the invariant culture.
/// </summary>
internal sealed class Html
{
    private readonly StringBuilder _text = new();

    /// <summary>Appends <paramref name="fragment"/>: its literal parts as they are, its values encoded.</summary>
    public Html Add([InterpolatedStringHandlerArgument("")] ref Handler fragment)
    {
        _ = fragment;
        return this;
    }

    /// <summary>Appends an already built fragment.</summary>
    public Html Add(Markup markup)
    {
        _text.Append(markup.Value);
        return this;
    }

    /// <summary>What was built, as a fragment for another builder.</summary>
    public Markup ToMarkup() => new(_text.ToString());

    /// <inheritdoc />
    public override string ToString() => _text.ToString();

    /// <summary>Encodes one value as HTML text (or an attribute value in double quotes).</summary>
    public static string Encode(object? value) => value switch
    {
        null => string.Empty,
        Markup m => m.Value,
        DateTimeOffset t => HtmlEncoder.Default.Encode(t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "Z"),
        double d => HtmlEncoder.Default.Encode(d.ToString("0.##", CultureInfo.InvariantCulture)),
        IFormattable f => HtmlEncoder.Default.Encode(f.ToString(null, CultureInfo.InvariantCulture)),
        _ => HtmlEncoder.Default.Encode(value.ToString() ?? string.Empty),
    };

    /// <summary>The interpolation handler behind <see cref="Add(ref Handler)"/>: literals raw, values encoded.</summary>
    [InterpolatedStringHandler]
    public readonly ref struct Handler
    {
        private readonly StringBuilder _text;

        /// <summary>Writes into <paramref name="html"/>.</summary>
        public Handler(int literalLength, int formattedCount, Html html)
        {
            _ = formattedCount;
            _text = html._text;
            _text.EnsureCapacity(_text.Length + literalLength);
        }

        /// <summary>A literal part of the template: HTML written by us.</summary>
        public void AppendLiteral(string literal) => _text.Append(literal);

        /// <summary>A value: encoded unless it is <see cref="Markup"/>.</summary>
        public void AppendFormatted<T>(T value) => _text.Append(Encode(value));

        /// <summary>A formatted value (invariant culture), encoded.</summary>
        public void AppendFormatted<T>(T value, string format)
            where T : IFormattable => _text.Append(HtmlEncoder.Default.Encode(value.ToString(format, CultureInfo.InvariantCulture)));
    }
}

/// <summary>A fragment of HTML built by <see cref="Html"/> (so already encoded): inserted as it is.</summary>
internal readonly record struct Markup(string Value);
