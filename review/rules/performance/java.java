public class Example {
    Integer box(int x) {
        // ruleid: java.performance.boxing-constructor
        Integer a = new Integer(x);
        // ok: java.performance.boxing-constructor
        Integer b = Integer.valueOf(x);
        return a + b;
    }

    String join(String[] parts) {
        String out = "";
        // ruleid: java.performance.string-concat-in-loop
        for (String p : parts) {
            out += p;
        }
        return out;
    }
}
