namespace Multiprocessing.Serialization;

/// <summary>Type names as a C# user writes them, for error messages.</summary>
internal static class TypeNames
{
    public static string Display(Type type)
    {
        if (type.IsArray)
        {
            return Display(type.GetElementType()!) + Brackets(type);
        }
        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            return Display(underlying) + "?";
        }
        if (!type.IsGenericType)
        {
            return type.FullName?.Replace('+', '.') ?? type.Name;
        }
        string name = type.GetGenericTypeDefinition().FullName ?? type.Name;
        int tick = name.IndexOf('`');
        if (tick >= 0)
        {
            name = name[..tick];
        }
        return $"{name.Replace('+', '.')}<{string.Join(", ", type.GetGenericArguments().Select(Display))}>";
    }

    /// <summary>The name without its namespace (<c>Order</c>, <c>List&lt;Order&gt;</c>), for paths to a member.</summary>
    public static string Short(Type type)
    {
        if (type.IsArray)
        {
            return Short(type.GetElementType()!) + Brackets(type);
        }
        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            return Short(underlying) + "?";
        }
        string name = type.Name;
        int tick = name.IndexOf('`');
        return tick < 0 ? name : $"{name[..tick]}<{string.Join(", ", type.GetGenericArguments().Select(Short))}>";
    }

    private static string Brackets(Type array) => $"[{new string(',', array.GetArrayRank() - 1)}]";
}
