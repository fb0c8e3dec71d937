define i32 @main() {
entry:
  ret i64 0
}
